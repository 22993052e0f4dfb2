"""What a recipe may say about the paper's side studies (built on the shared machinery)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from aas_dataset.spec.references import ModelName, _ref
from aas_dataset.util import Strict


class EmotionBias(Strict):
    """The emotion-bias set: `count` rows of a happy image and its sad / angry / fearful edits by
    one image model (the authors: Nano Banana, 100 rows), one shared caption with an [emotion]
    placeholder by a VLM, scores by every recipe scorer."""

    count: int = Field(ge=1)
    generator: ModelName  # makes the happy image and edits it; must be able to edit images
    captioner: ModelName
    strength: float = Field(default=0.6, gt=0, le=1)  # diffusion edits only; an image API ignores it
    seed: int = 0
    texts: Literal["official", "ours"] = "official"  # the study's requests: the authors' or our wording
    official_dir: str | None = None  # a copy of weathon/icml2026_position (default: fetched once)

    @field_validator("generator", "captioner", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return _ref(v)


class RowFilter(Strict):
    """Which rows of the source release enter: a model (optional) and a score bound, e.g. the
    paper's Nano Banana I_a with HPSv3(I_a, p_o) < 10: {model: nano-banana, score: hpsv3,
    combo: diop, below: 10}."""

    model: str | None = None
    score: str | None = None  # a scorer of the source release (its column score_<score>)
    combo: Literal["oiop", "oidp", "diop", "didp"] = "diop"
    below: float | None = None
    above: float | None = None
    limit: int | None = Field(default=None, ge=1)


class ImageToImage(Strict):
    """Re-generate chosen I_a images of an existing release from their p_a at `strength` with
    image-to-image models (the paper: Flux Krea and DanceFlux at 0.5), scored like pairs with
    I_o = the input image and I_a = the edited one."""

    source: str  # a release folder (built or imported)
    keep: RowFilter = RowFilter()
    editors: list[ModelName] = Field(min_length=1)
    strength: float = Field(default=0.5, gt=0, le=1)
    seed: int = 0

    @field_validator("editors", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return [_ref(x) for x in v] if isinstance(v, list) else v
