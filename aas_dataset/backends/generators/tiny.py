"""Tiny random-weight StableDiffusionPipeline built from configs (offline smoke and tests).

Same pipeline class and call path as a real checkpoint; weights come from `weights_seed`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from aas_dataset.backends.generators.diffusers_gen import Mitigation, PipelineGenerator, PipelineSettings
from aas_dataset.backends.tiny_parts import byte_level_clip_tokenizer, seeded_init, tiny_clip_text_config


class TinySettings(PipelineSettings):
    scheduler: Literal["ddim", "euler"] = "ddim"
    weights_seed: int = 0
    channels: tuple[int, int] = (32, 64)
    steps: int = Field(default=4, ge=1)
    guidance: float = Field(default=5.0, ge=0)
    width: int = Field(default=64, ge=8, multiple_of=8)
    height: int = Field(default=64, ge=8, multiple_of=8)


class TinyGenerator(PipelineGenerator):
    Settings = TinySettings
    VERSION = 1

    def load(self) -> None:
        from diffusers import (
            AutoencoderKL,
            DDIMScheduler,
            EulerDiscreteScheduler,
            StableDiffusionPipeline,
            UNet2DConditionModel,
        )
        from transformers import CLIPTextConfig, CLIPTextModel

        s = self.settings
        tokenizer = byte_level_clip_tokenizer()
        with seeded_init(s.weights_seed):
            text_encoder = CLIPTextModel(CLIPTextConfig(**tiny_clip_text_config(tokenizer)))
            unet = UNet2DConditionModel(
                block_out_channels=s.channels,
                layers_per_block=1,
                sample_size=s.height // 4,
                in_channels=4,
                out_channels=4,
                cross_attention_dim=32,
                norm_num_groups=32,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            )
            vae = AutoencoderKL(
                block_out_channels=list(s.channels),
                in_channels=3,
                out_channels=3,
                down_block_types=["DownEncoderBlock2D"] * 2,
                up_block_types=["UpDecoderBlock2D"] * 2,
                latent_channels=4,
                norm_num_groups=32,
            )
        sched_cls = {"ddim": DDIMScheduler, "euler": EulerDiscreteScheduler}[s.scheduler]
        scheduler = sched_cls(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            **({"clip_sample": False, "set_alpha_to_one": False} if s.scheduler == "ddim" else {}),
        )
        self.pipe = StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        self.pipe.set_progress_bar_config(disable=True)
        self.device = "cpu"


class TinyFluxSettings(PipelineSettings):
    weights_seed: int = 0
    steps: int = Field(default=4, ge=1)
    guidance: float = Field(default=3.5, ge=0)
    width: int = Field(default=32, ge=8, multiple_of=16)
    height: int = Field(default=32, ge=8, multiple_of=16)
    call_kwargs: dict[str, Any] = {"max_sequence_length": 32}
    # VSF / NAG on p_a with the recipe's negative prompt, as on the real Flux pipelines
    mitigation: Mitigation | None = None


class TinyFluxGenerator(PipelineGenerator):
    """A tiny random-weight FluxPipeline (the real class, small configs): offline runs of the
    VSF / NAG mitigations and of everything Flux-specific."""

    Settings = TinyFluxSettings
    VERSION = 1

    def load(self) -> None:
        from diffusers import FluxPipeline

        from aas_dataset.backends.tiny_parts import tiny_flux_components

        with seeded_init(self.settings.weights_seed):
            components = tiny_flux_components()
        for c in components.values():
            if hasattr(c, "eval"):  # fresh modules are in training mode (dropout on)
                c.eval()
        self.pipe = FluxPipeline(**components)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = "cpu"
