"""Generators on diffusers pipelines: any pipeline class, from the Hub or a local folder.

Every image gets its own CPU `torch.Generator` seeded with its own seed, passed as a list,
so an image's initial noise depends only on its seed, not on batch size or position
(kernel-level batch effects remain on GPUs; the batch size is recorded in the settings).

One settings model covers the paper's loading quirks, each a catalog value, not code:
a single-file transformer (DanceFlux), a PEFT adapter merged at its own alpha/r (Flow-GRPO),
compel long-prompt embeddings (SDXL), per-arm negative prompts, the guidance argument's name
(Qwen-Image's `true_cfg_scale`), components not loaded, CPU offload / VAE tiling, strict
determinism, and the VSF / NAG mitigations fed by the recipe's negative-prompt writer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from aas_dataset.backends.base import Generator, release_memory, resolve_device
from aas_dataset.util import Strict, run_grouped


class ArmSettings(Strict):
    """Steps/guidance for the p_o arm where they differ (the SD3 branch of the paper's later code)."""

    steps: int | None = Field(None, ge=1)
    guidance: float | None = Field(None, ge=0)


class PipelineSettings(Strict):
    steps: int = Field(ge=1)
    guidance: float = Field(ge=0)
    width: int = Field(ge=8, multiple_of=8)
    height: int = Field(ge=8, multiple_of=8)
    # Name of the pipeline argument that takes `guidance` (Qwen-Image: true_cfg_scale).
    guidance_param: str = "guidance_scale"
    # Negative prompt passed with each arm; None = not passed (the pipeline's own default).
    # The paper passed "" with p_a only, which matters where "" differs from nothing (SDXL).
    negative_original: str | None = None
    negative_distorted: str | None = None
    original: ArmSettings | None = None
    call_kwargs: dict[str, Any] = {}


class LoraAdapter(Strict):
    """A PEFT adapter (adapter_config.json + adapter_model.safetensors) merged into a component
    with `merge_and_unload`, so its own lora_alpha / r scale applies (Flow-GRPO: 64/32 = 2)."""

    id: str
    revision: str | None = None
    subfolder: str | None = None
    component: str = "transformer"


class SingleFileComponent(Strict):
    """A component from one weights file plus a config folder (DanceFlux's transformer)."""

    path: str  # local file or https://huggingface.co/<repo>/blob/<rev>/<file>
    config: str  # repo id or folder holding the component's config
    subfolder: str | None = "transformer"
    config_revision: str | None = None
    component: str = "transformer"
    model_class: str = "FluxTransformer2DModel"


class VSF(Strict):
    method: Literal["vsf"] = "vsf"
    scale: float = Field(2.0, ge=0)  # 0 = off
    offset: float = 0.0


class NAG(Strict):
    method: Literal["nag"] = "nag"
    scale: float = Field(4.0, ge=0)  # the paper's phi; the official code's nag_scale is phi + 1
    tau: float = Field(5.0, ge=1)
    alpha: float = Field(0.4, ge=0, le=1)


Mitigation = Annotated[VSF | NAG, Field(discriminator="method")]


class DiffusersSettings(PipelineSettings):
    pipeline: str = "DiffusionPipeline"
    dtype: Literal["float32", "float16", "bfloat16"] = "bfloat16"
    variant: str | None = None
    device: str = "auto"
    lora: LoraAdapter | None = None
    single_file: SingleFileComponent | None = None
    # SDXL: encode prompts with compel (75-token chunks, no truncation at 77).
    compel: bool = False
    # Components not loaded (passed as None), e.g. LongCat's rewrite processor when rewrite is off.
    omit_components: list[str] = []
    offload: Literal["none", "model", "sequential"] = "none"
    vae_tiling: bool = False
    # diffusers' enable_full_determinism(): deterministic kernels, no TF32, fixed cuBLAS workspace.
    strict_determinism: bool = False
    # False: the pipeline's outputs depend on the batch's other prompts (Z-Image pads captions
    # across the batch; GLM-Image reseeds the global RNG from one generator), so each image is
    # generated in its own call.
    batch_invariant: bool = True
    # VSF / NAG on p_a with the recipe's <= 5-word negative prompt (Flux-family pipelines).
    mitigation: Mitigation | None = None


class PipelineGenerator(Generator):
    """Shared `generate` for any diffusers text-to-image pipeline held in `self.pipe`."""

    pipe: Any = None
    device: str = "cpu"
    compel: Any = None

    @classmethod
    def needs_negatives(cls, settings) -> bool:
        return getattr(settings, "mitigation", None) is not None

    def generate(
        self, prompts: list[str], seeds: list[int], negatives: list[str | None] | None = None, arm: str | None = None
    ) -> list[Any]:
        """`negatives[i]`: the writer's negative prompt for a mitigated image, else None;
        `arm` ("original" / "distorted") selects the settings' fixed negative prompt."""
        import torch

        if len(prompts) != len(seeds):
            raise ValueError("one seed per prompt")
        negatives = negatives or [None] * len(prompts)
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        # One call per group of images that share how they are conditioned.
        keys = [("mitigated" if neg is not None else "plain",) for neg in negatives]
        if not getattr(self.settings, "batch_invariant", True):
            keys = [(*k, i) for i, k in enumerate(keys)]

        def run(key, idx):
            negs = [negatives[i] for i in idx] if key[0] == "mitigated" else None
            out = self._call([prompts[i] for i in idx], [gens[i] for i in idx], negs, arm)
            return [im.convert("RGB") if hasattr(im, "convert") else im for im in out]

        return run_grouped(keys, run)

    def edit(self, images: list[Any], prompts: list[str], seeds: list[int], strength: float = 0.5) -> list[Any]:
        """Image-to-image with the same weights (diffusers' AutoPipelineForImage2Image.from_pipe
        shares the loaded components); an image of None is generated from its prompt."""
        import torch
        from diffusers import AutoPipelineForImage2Image

        out: list[Any] = [None] * len(prompts)
        new = [i for i, im in enumerate(images) if im is None]
        for i, im in zip(
            new, self.generate([prompts[i] for i in new], [seeds[i] for i in new]) if new else [], strict=True
        ):
            out[i] = im
        old = [i for i, im in enumerate(images) if im is not None]
        if old:
            if getattr(self, "_img2img", None) is None:
                self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
                self._img2img.set_progress_bar_config(disable=True)
            s = self.settings
            gens = [torch.Generator("cpu").manual_seed(int(seeds[i])) for i in old]
            res = self._img2img(
                prompt=[prompts[i] for i in old],
                image=[images[i].convert("RGB") for i in old],
                strength=strength,
                num_inference_steps=s.steps,
                generator=gens,
                output_type="pil",
                **{s.guidance_param: s.guidance},
                **s.call_kwargs,
            ).images
            for i, im in zip(old, res, strict=True):
                out[i] = im.convert("RGB")
        return out

    def _call(self, prompts: list[str], gens: list, negatives: list[str] | None, arm: str | None) -> list[Any]:
        s = self.settings
        steps, guidance = s.steps, s.guidance
        if arm == "original" and s.original is not None:
            steps = s.original.steps or steps
            guidance = s.original.guidance if s.original.guidance is not None else guidance
        call = {
            "num_inference_steps": steps,
            s.guidance_param: guidance,
            "width": s.width,
            "height": s.height,
            "output_type": "pil",
            **s.call_kwargs,
        }
        mitigation = getattr(s, "mitigation", None)
        if negatives is not None and mitigation is not None and mitigation.scale > 0:
            from aas_dataset.backends.generators import negative_guidance as ng

            if mitigation.method == "vsf":
                return ng.vsf_call(self.pipe, prompts, negatives, gens, mitigation.scale, mitigation.offset, **call)
            return ng.nag_call(
                self.pipe, prompts, negatives, gens, mitigation.scale, mitigation.tau, mitigation.alpha, **call
            )
        return self._plain_call(prompts, gens, call, arm)

    def _plain_call(self, prompts: list[str], gens: list, call: dict, arm: str | None) -> list[Any]:
        s = self.settings
        # Without an arm (one interleaved call) both arms share the same policy.
        neg = {"original": s.negative_original, "distorted": s.negative_distorted}.get(arm, s.negative_original)
        if self.compel is not None:
            return self._compel_call(prompts, gens, neg, call)
        if neg is not None:
            call["negative_prompt"] = [neg] * len(prompts)
        # One image: its generator alone (same noise; GLM-Image accepts no list).
        return self.pipe(prompt=list(prompts), generator=gens if len(gens) > 1 else gens[0], **call).images

    def _compel_call(self, prompts: list[str], gens: list, neg: str | None, call: dict) -> list[Any]:
        """compel pads a batch to its longest prompt, which would make an image depend on its
        batch mates, so prompts are encoded one by one and run in groups of equal length."""
        import torch

        enc = [self.compel(p, negative_prompt=neg) if neg is not None else self.compel(p) for p in prompts]

        def run(_shape, members):
            kw = dict(call)
            kw["prompt_embeds"] = torch.cat([enc[i].embeds for i in members])
            kw["pooled_prompt_embeds"] = torch.cat([enc[i].pooled_embeds for i in members])
            if neg is not None:
                kw["negative_prompt_embeds"] = torch.cat([enc[i].negative_embeds for i in members])
                kw["negative_pooled_prompt_embeds"] = torch.cat([enc[i].negative_pooled_embeds for i in members])
            return self.pipe(generator=[gens[i] for i in members], **kw).images

        shapes = [(e.embeds.shape[1], None if e.negative_embeds is None else e.negative_embeds.shape[1]) for e in enc]
        return run_grouped(shapes, run)

    def generate_pairs(self, originals, distorted, seeds_o, seeds_a, negatives=None):
        """Arms that are conditioned alike run interleaved in one call (the better GPU batch);
        arms that differ in their negative prompt or guidance run as two calls."""
        s = self.settings
        if negatives is None and s.negative_original == s.negative_distorted and s.original is None:
            return super().generate_pairs(originals, distorted, seeds_o, seeds_a)
        return (
            self.generate(originals, seeds_o, arm="original"),
            self.generate(distorted, seeds_a, negatives, "distorted"),
        )

    def close(self) -> None:
        self.pipe = None
        self.compel = None
        release_memory()


class DiffusersGenerator(PipelineGenerator):
    Settings = DiffusersSettings
    VERSION = 2  # 2: per-arm negatives, compel, adapters, single-file parts, VSF / NAG

    def load(self) -> None:
        import diffusers
        import torch

        s = self.settings
        if s.strict_determinism:
            from diffusers.utils.torch_utils import enable_full_determinism

            enable_full_determinism()
        cls = getattr(diffusers, s.pipeline, None)
        if cls is None:
            raise RuntimeError(f"generator {self.name!r}: diffusers has no pipeline {s.pipeline!r}")
        if s.mitigation is not None and not s.pipeline.startswith("Flux"):
            raise RuntimeError(f"generator {self.name!r}: VSF/NAG are implemented for Flux pipelines only")
        self.device = resolve_device(s.device)
        dtype = getattr(torch, s.dtype)
        kwargs: dict[str, Any] = {"torch_dtype": dtype, **{c: None for c in s.omit_components}}
        if self.revision:
            kwargs["revision"] = self.revision
        if s.variant:
            kwargs["variant"] = s.variant
        if s.single_file:
            kwargs[s.single_file.component] = _single_file_component(s.single_file, dtype)
        pipe = cls.from_pretrained(self.model_id, **kwargs)
        if s.lora:
            _merge_peft_adapter(pipe, s.lora)
        if s.vae_tiling and hasattr(pipe, "vae"):
            pipe.vae.enable_tiling()
        if s.offload == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        elif s.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        if s.compel:
            from compel import CompelForSDXL

            self.compel = CompelForSDXL(pipe, device=self.device)


def _single_file_component(spec: SingleFileComponent, dtype):
    import diffusers

    model_cls = getattr(diffusers, spec.model_class)
    kw: dict[str, Any] = {"config": spec.config, "torch_dtype": dtype}
    if spec.subfolder:
        kw["subfolder"] = spec.subfolder
    if spec.config_revision:
        kw["revision"] = spec.config_revision
    return model_cls.from_single_file(spec.path, **kw)


def _merge_peft_adapter(pipe, spec: LoraAdapter) -> None:
    """PeftModel + merge_and_unload, never `load_lora_weights`: the latter drops PEFT's
    `base_model.model.*` keys and would default to scale 1.0."""
    from peft import PeftModel

    base = getattr(pipe, spec.component)
    kw: dict[str, Any] = {}
    if spec.revision:
        kw["revision"] = spec.revision
    if spec.subfolder:
        kw["subfolder"] = spec.subfolder
    merged = PeftModel.from_pretrained(base, spec.id, **kw).merge_and_unload()
    setattr(pipe, spec.component, merged)
