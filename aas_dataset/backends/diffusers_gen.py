"""Generators on diffusers pipelines: real checkpoints (`diffusers`) and the shared batching.

Every image gets its own CPU `torch.Generator` seeded with its own seed, passed as a list,
so an image's initial noise depends only on its seed, not on batch size or position
(kernel-level batch effects remain on GPUs; the batch size is recorded in the settings).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import Generator, resolve_device


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(ge=1)
    guidance: float = Field(ge=0)
    width: int = Field(ge=8, multiple_of=8)
    height: int = Field(ge=8, multiple_of=8)
    call_kwargs: dict[str, Any] = {}


class DiffusersSettings(PipelineSettings):
    pipeline: str = "DiffusionPipeline"
    dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"
    variant: str | None = None
    device: str = "auto"


class PipelineGenerator(Generator):
    """Shared `generate` for any diffusers text-to-image pipeline held in `self.pipe`."""

    pipe: Any
    device: str = "cpu"

    def generate(self, prompts: list[str], seeds: list[int]) -> list[Any]:
        import torch

        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt")
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        s = self.settings
        out = self.pipe(
            prompt=list(prompts),
            generator=gens,
            num_inference_steps=s.steps,
            guidance_scale=s.guidance,
            width=s.width,
            height=s.height,
            output_type="pil",
            **s.call_kwargs,
        )
        return [img.convert("RGB") for img in out.images]


class DiffusersGenerator(PipelineGenerator):
    Settings = DiffusersSettings
    VERSION = 1

    def load(self) -> None:
        import diffusers
        import torch

        s = self.settings
        cls = getattr(diffusers, s.pipeline, None)
        if cls is None:
            raise RuntimeError(f"generator {self.name!r}: diffusers has no pipeline {s.pipeline!r}")
        self.device = resolve_device(s.device)
        kwargs: dict[str, Any] = {"torch_dtype": getattr(torch, s.dtype)}
        if self.revision:
            kwargs["revision"] = self.revision
        if s.variant:
            kwargs["variant"] = s.variant
        self.pipe = cls.from_pretrained(self.model_id, **kwargs).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
