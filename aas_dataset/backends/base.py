"""The contracts: one base class per role, with the methods the stages call.

- Rewriter: `rewrite_many([(caption, dims)]) -> [p_a or error]` (default: `rewrite` per item)
  and `effects_text(dims)`, the effect descriptions it was given.
- NegativeWriter: `negative_many([p_a], [dims]) -> [negative or error]` (default: `negative`).
- Generator: `generate_pairs(p_o, p_a, seeds_o, seeds_a, negatives) -> (I_o list, I_a list)`
  (default: one interleaved `generate(prompts, seeds)` call); image i depends only on its own
  prompt and seed.
- Judge: `judge(items, emit=None) -> [Verdict or error]`; `emit(i, verdict)` is called as a
  verdict arrives by judges that stream (`streams`).
- Scorer: `score(images, prompts) -> array (n,) or (n, len(outputs))`; a Rater is a Scorer of
  the 11 dimensions (image only).

Each backend declares a pydantic `Settings` model (unknown keys are errors), a `VERSION` that is
part of every unit key (bump it, with the reason beside it, when a code change alters outputs),
and traits the engine reads from the resolved model (`traits`), never from the instance.
`catalog.resolve` checks that a kind's class is the role's base and implements its method, so a
wrong or incomplete user class is a one-line recipe error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, model_validator

from aas_dataset.util import Strict


def release_memory() -> None:
    """Return a dropped model's memory before the next model loads (host and CUDA cache)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def resolve_device(setting: str) -> str:
    """`auto` -> cuda when torch sees a GPU, else cpu; anything else as given."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class NoSettings(Strict):
    """A backend without settings."""


class TorchSettings(Strict):
    """What every torch model's settings share: tiny random weights built from a config (offline
    runs and tests, on the model's real architecture) and where it runs."""

    tiny: bool = False
    weights_seed: int = 0  # tiny weights only: the seed they are drawn from
    device: str = "auto"  # auto: cuda if torch sees a GPU, else cpu


class TextDefinedSettings(TorchSettings):
    """Settings of a scorer defined partly by a text (HPSv3's instruction, MPS's condition, J's
    template): `texts: ours` gives stand-in texts of ours, accepted only on tiny random weights,
    where no text carries meaning; real weights always read their own texts."""

    texts: Literal["official", "ours"] = "official"

    def stand_in_sources(self, what: str) -> list[dict] | None:
        """The `text_sources` entry of stand-in texts, or None when the official ones are read."""
        return [{"text": what, "source": "ours (tiny stand-in)", "sha256": "-"}] if self.texts == "ours" else None

    @model_validator(mode="after")
    def _stand_ins_need_tiny(self):
        if self.texts == "ours" and not self.tiny:
            raise ValueError("texts 'ours' (stand-in texts) needs tiny: true; real weights read their official texts")
        return self


class Backend:
    Settings: ClassVar[type[BaseModel]] = NoSettings
    VERSION: ClassVar[int] = 1
    # True: an output may depend on which units share its batch (batched kernels round by
    # batch shape), so a resumed build recomputes a partly done batch whole to give the same
    # bytes. False for backends that treat each unit alone (APIs, LLMs behind a response
    # cache, per-image statistics): a rerun sends only the missing units.
    exact_batches: ClassVar[bool] = True
    # The method a class of this role must implement (one of them), for the role check.
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, model_id: str | None, revision: str | None, settings: BaseModel, cache_dir=None):
        self.name = name
        self.model_id = model_id
        self.revision = revision
        self.settings = settings
        self.cache_dir = cache_dir  # a folder for caches that outlive one run (LLM replies, official texts)

    def load(self) -> None:
        """Load weights/clients once; called only when the backend has work to do."""

    def close(self) -> None:
        """Release weights, clients and memory; called once the backend's units are done."""

    @classmethod
    def traits(cls, settings) -> dict:
        """What the engine needs to know of this backend without loading it."""
        return {"exact_batches": cls.exact_batches}

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        """The texts this backend sends or reads that define what it computes (instructions,
        templates, conditions): their source and SHA-256 prefix, known without loading. They
        enter the unit key, the card and `aas models`."""
        return []

    @classmethod
    def paper_differences(cls, settings) -> list[str]:
        """How this backend's code, with these settings, differs from the authors' run of the
        model it stands for, whatever the catalog entry (the entry's own differences are its
        `paper_settings`)."""
        return []

    @property
    def preferred_batch_size(self) -> int | None:
        """Units per call this backend works best with (e.g. enough to fill its concurrency)."""
        return None


def _per_item(fn, items) -> list:
    out = []
    for it in items:
        try:
            out.append(fn(*it))
        except Exception as e:  # one item's failure is that unit's failure
            out.append(e)
    return out


class Rewriter(Backend):
    REQUIRED = ("rewrite", "rewrite_many")

    def rewrite(self, caption: str, dims: list[str]) -> str:
        raise NotImplementedError

    def rewrite_many(self, items: list[tuple[str, list[str]]]) -> list:
        """p_a (a string, or a text with its usage) or the error, per (caption, dims)."""
        return _per_item(self.rewrite, items)

    def effects_text(self, dims: list[str]) -> str:
        """The effect descriptions this rewriter works from, one per line (the `effects` column)."""
        from aas_dataset.spec.taxonomy import dimension

        return "\n".join(dimension(d).anti_pole for d in dims)


class NegativeWriter(Backend):
    REQUIRED = ("negative", "negative_many")

    def negative(self, prompt: str, dims: list[str]) -> str:
        raise NotImplementedError

    def negative_many(self, prompts: list[str], dims: list[list[str]]) -> list:
        """A <= 5-word negative prompt or the error, per p_a."""
        return _per_item(self.negative, list(zip(prompts, dims, strict=True)))


class Generator(Backend):
    REQUIRED = ("generate", "generate_pairs")
    # False for models that take no seed (image APIs): their rows record no seeds.
    seeded: ClassVar[bool] = True

    @classmethod
    def is_seeded(cls, settings) -> bool:
        """Whether images of this model (with these settings) depend on the recorded seed."""
        return cls.seeded

    @classmethod
    def needs_negatives(cls, settings) -> bool:
        """Whether I_a is guided away from the recipe's negative prompt (VSF / NAG)."""
        return False

    @classmethod
    def traits(cls, settings) -> dict:
        return {
            **super().traits(settings),
            "seeded": cls.is_seeded(settings),
            "needs_negatives": cls.needs_negatives(settings),
        }

    @classmethod
    def paper_differences(cls, settings) -> list[str]:
        if cls.is_seeded(settings):
            return ["each image is generated from its own recorded seed (the paper's runs set none)"]
        return []

    def generate(self, prompts: list[str], seeds: list[int]) -> list[Any]:
        """One image per prompt; an exception in place of an image fails only its own unit."""
        raise NotImplementedError

    def edit(self, images: list[Any], prompts: list[str], seeds: list[int], strength: float = 0.5) -> list[Any]:
        """One image per request: `images[i]` changed as `prompts[i]` asks (None: an image made
        from the text alone, the request sent as it is); an exception in place of an image fails
        only its own unit. `strength`: how far a diffusion edit may move from the input."""
        raise NotImplementedError(f"{type(self).__name__} cannot edit images")

    def generate_pairs(
        self,
        originals: list[str],
        distorted: list[str],
        seeds_o: list[int],
        seeds_a: list[int],
        negatives: list[str] | None = None,
    ) -> tuple[list[Any], list[Any]]:
        """I_o and I_a for a batch of pairs. Default: one interleaved `generate` call."""
        prompts = [p for pair in zip(originals, distorted, strict=True) for p in pair]
        seeds = [x for pair in zip(seeds_o, seeds_a, strict=True) for x in pair]
        images = self.generate(prompts, seeds)
        if len(images) != len(prompts):
            raise RuntimeError(f"generator returned {len(images)} images for {len(prompts)} prompts")
        return images[0::2], images[1::2]


class Scorer(Backend):
    REQUIRED = ("score",)
    # Names of the score outputs; ("",) means one unnamed score.
    outputs: ClassVar[tuple[str, ...]] = ("",)
    # False: the score ignores the prompt, so only I_o and I_a are scored.
    prompt_dependent: ClassVar[bool] = True
    rater: ClassVar[bool] = False

    @classmethod
    def traits(cls, settings) -> dict:
        return {
            **super().traits(settings),
            "outputs": tuple(cls.outputs),
            "prompt_dependent": cls.prompt_dependent,
            "rater": cls.rater,
        }

    def score(self, images: list[Any], prompts: list[str]):
        raise NotImplementedError


class TorchScorer(Scorer):
    """A scorer on torch weights: `load` resolves the device, then builds the model
    (`load_model`: tiny random weights or the released ones); `close` drops the model and
    empties the CUDA cache before the next model loads."""

    Settings = TorchSettings
    device: str = "cpu"

    def load(self) -> None:
        self.device = resolve_device(self.settings.device)
        self.load_model()

    def load_model(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.model = None
        release_memory()


class Rater(Scorer):
    """A per-dimension judge of images: expected scores then predicted classes, 11 each, in
    the taxonomy's order; written to `rater_<name>` columns, not to the reward-model table."""

    prompt_dependent = False
    rater = True


@dataclass
class JudgeItem:
    """One image pair to judge. Judges that send images over the wire use the stored PNG bytes;
    the decoded images are made only if a judge asks for them."""

    prompt_original: str
    prompt_distorted: str
    selected_dims: tuple[str, ...]
    original_png: bytes
    distorted_png: bytes

    @classmethod
    def from_images(cls, image_original, image_distorted, prompt_original: str, prompt_distorted: str, dims=()):
        from aas_dataset.util import png_bytes

        return cls(
            prompt_original, prompt_distorted, tuple(dims), png_bytes(image_original), png_bytes(image_distorted)
        )

    @functools.cached_property
    def image_original(self):
        return _decode(self.original_png)

    @functools.cached_property
    def image_distorted(self):
        return _decode(self.distorted_png)


def _decode(png: bytes):
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(png))
    im.load()
    return im


@dataclass(frozen=True)
class Verdict:
    label: int | None  # 0 original, 1 anti-aesthetic, -1 tie; None for absolute judges
    reason: str = ""
    detail: dict = field(default_factory=dict)  # e.g. order shown, raw answer, token usage
    scores: dict | None = None  # absolute (0-100) judges: original_/distorted_ fields


class Judge(Backend):
    REQUIRED = ("judge",)
    # True: grades each image (judge100_<name> column) instead of choosing one (label_<name>)
    absolute: ClassVar[bool] = False
    # True: calls `emit(i, verdict)` as verdicts arrive, so the stage stores each at once
    streams: ClassVar[bool] = False

    @classmethod
    def traits(cls, settings) -> dict:
        return {**super().traits(settings), "absolute": cls.absolute, "streams": cls.streams}

    def judge(self, items: list[JudgeItem], emit=None) -> list[Verdict | BaseException]:
        """One verdict per item, or the exception that item failed with."""
        raise NotImplementedError


class Embedder(Backend):
    """Text-to-image retrieval: images and texts into one space, compared by cosine."""

    REQUIRED = ("embed_images",)

    def embed_images(self, images: list[bytes]) -> Any:
        """One vector per image (encoded bytes, as stored): an (n, d) array."""
        raise NotImplementedError

    def embed_texts(self, texts: list[str]) -> Any:
        raise NotImplementedError


class Captioner(Backend):
    """A VLM step on reference images: the real-photo curation verdict, or an artwork's caption."""

    REQUIRED = ("curate", "caption", "describe_together")

    def curate(self, images: list[bytes]) -> list:
        """Per image: a `Curation` reply (elements, clean and anti-aesthetic captions), or the error."""
        raise NotImplementedError

    def caption(self, images: list[bytes]) -> list:
        """Per image: a `Text` caption, or the error."""
        raise NotImplementedError

    def describe_together(self, groups: list[list[bytes]]) -> list:
        """Per group of images: one `Text` prompt for all of them (the emotion set), or the error."""
        raise NotImplementedError


class Detector(Backend):
    """Open-vocabulary detection: the best box of a text query in each image, or None."""

    REQUIRED = ("detect",)

    def detect(self, images: list[Any], query: str) -> list:
        """Per image: (box [x0, y0, x1, y1] in pixels, score) of the best match, None when nothing
        scores at least the threshold, or the error of that image."""
        raise NotImplementedError


ROLE_BASES: dict[str, type[Backend]] = {
    "rewriter": Rewriter,
    "negative_writer": NegativeWriter,
    "generator": Generator,
    "scorer": Scorer,
    "judge": Judge,
    "embedder": Embedder,
    "captioner": Captioner,
    "detector": Detector,
}


def check_role(role: str, cls: type) -> str | None:
    """Why `cls` cannot serve as a `role` backend, or None."""
    base = ROLE_BASES[role]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        name = getattr(cls, "__qualname__", cls)
        return f"{name} is not a {base.__name__} (subclass aas_dataset.backends.base.{base.__name__})"
    if not any(getattr(cls, m) is not getattr(base, m) for m in base.REQUIRED):
        return f"{cls.__qualname__} implements none of {' / '.join(base.REQUIRED)}"
    if not (isinstance(cls.Settings, type) and issubclass(cls.Settings, BaseModel)):
        return f"{cls.__qualname__}.Settings must be a pydantic model"
    return None
