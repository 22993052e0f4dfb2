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
