"""What a recipe and a catalog entry may say: pydantic models, strict (an unknown key is an
error). Resolving a recipe against the catalog is `aas_dataset.catalog.recipes`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aas_dataset.spec.references import Artworks, ModelName, RealPhotos
from aas_dataset.spec.studies import EmotionBias, ImageToImage
from aas_dataset.util import Strict


class Entry(Strict):
    """A catalog entry: a backend kind, its weights and settings, and how it relates to the paper."""

    kind: str
    model_id: str | None = None
    revision: str | None = None
    description: str = ""
    display_name: str = ""
    # The paper's generator-table heading of this scorer's shift where it abbreviates the display
    # name (ImageReward's is ΔImgRwd).
    paper_column: str = ""
    # The paper's data key where it differs from ours (ours carry no dots: they are file keys).
    paper_key: str | None = None
    # Which of the authors' runs the entry reproduces: the paper's, their follow-up (post-paper)
    # runs, or none (tiny, local and offline models of ours).
    paper_run: Literal["paper", "follow-up", "none"] = "none"
    # Where our settings differ from those of that run, and why.
    paper_settings: str = ""
    license: str = "unknown"
    settings: dict[str, Any] = {}


class RecipeError(ValueError):
    pass


class HubCaptions(Strict):
    id: str
    column: str = "text"
    split: str = "train"
    revision: str | None = None
    limit: int | None = Field(default=None, ge=1)  # the first N rows only (the paper read train[:300])


class Captions(Strict):
    """Exactly one source: `inline`, `file` (text: one per line; .jsonl: needs `column`), `hub`.

    `count` + `seed` draw a seeded sample without replacement; without `count`, all are used.
    """

    inline: list[str] | None = None
    file: str | None = None
    hub: HubCaptions | None = None
    column: str | None = None
    count: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("inline", "file", "hub") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of inline, file, hub (got {given or 'none'})")
        if self.inline is not None and not self.inline:
            raise ValueError("inline caption list is empty")
        return self


class EmotionGeneration(Strict):
    """Each template (with an [emotion] placeholder) filled with happy, sad, angry and fearful,
    rendered by each generator from one fixed seed (the authors': 42 for every image), the face
    found by a detector and scored against a caption naming the emotion (ours: the authors'
    caption is unpublished) by every recipe scorer."""

    templates: Captions
    generators: list[ModelName] = Field(min_length=1)
    detector: ModelName
    seed: int = 42
    query: str = "a human face"
    caption: str = "a face showing a {emotion} expression"

    @field_validator("generators", mode="before")
    @classmethod
    def _expand_list(cls, v: Any) -> Any:
        return [_ref(x) for x in v] if isinstance(v, list) else v

    @field_validator("detector", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return _ref(v)

    @field_validator("caption")
    @classmethod
    def _names_the_emotion(cls, v: str) -> str:
        if "{emotion}" not in v:
            raise ValueError("the caption must contain {emotion}")
        return v


class DimensionSampling(Strict):
    min: int = Field(default=2, ge=1, le=11)
    max: int = Field(default=4, ge=1, le=11)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ModelRef(Strict):
    name: str
    settings: dict[str, Any] = {}


def _ref(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class Comparison(Strict):
    """An aligned model and the base it was tuned from, for the paired statistical tests."""

    aligned: str
    base: str


class LLMEndpoint(Strict):
    """Points every LLM-backed model of the recipe at one OpenAI-compatible server."""

    base_url: str
    api_key_env: str | None = None


class RecipeCatalog(Strict):
    """Entries a recipe adds to (or shadows in) the packaged catalog."""

    rewriters: dict[str, Entry] = {}
    negative_writers: dict[str, Entry] = {}
    generators: dict[str, Entry] = {}
    scorers: dict[str, Entry] = {}
    judges: dict[str, Entry] = {}
    embedders: dict[str, Entry] = {}
    captioners: dict[str, Entry] = {}
    detectors: dict[str, Entry] = {}

    def for_role(self, role: str) -> dict[str, Entry]:
        return getattr(self, role + "s")


class Recipe(Strict):
    name: str
    version: str = "0.1.0"
    description: str = ""
    seed: int = 0
    # The paired benchmark: captions, their rewrites, images of both. Optional when the recipe
    # builds real references only.
    captions: Captions | None = None
    dimensions: DimensionSampling = DimensionSampling()
    rewriter: ModelRef | None = None
    # Optional: writes a <= 5-word negative prompt per p_a (for guidance-based mitigations).
    negative_writer: ModelRef | None = None
    generators: list[ModelRef] = []
    judges: list[ModelRef] = []
    scorers: list[ModelRef] = []
    batch_size: int = Field(default=8, ge=1)
    shard_rows: int = Field(default=100, ge=1)
    row_group_rows: int = Field(default=100, ge=1)
    output: str = "aas_benchmark"
    license: str = "other"
    pretty_name: str = "AAS anti-aesthetic benchmark"
    catalog: RecipeCatalog = RecipeCatalog()
    # The judge whose label is the ground truth of "did the model comply" (default: the first).
    ground_truth: str | None = None
    comparisons: list[Comparison] = []
    llm_endpoint: LLMEndpoint | None = None
    # How this recipe as a whole differs from the paper's runs (per-model differences come from
    # the catalog); listed in the card.
    paper_differences: list[str] = []
    # Real references, configs of the same release (spec/references.py)
    real_photos: RealPhotos | None = None
    artworks: Artworks | None = None
    # Side studies (spec/studies.py)
    emotion_bias: EmotionBias | None = None
    image_to_image: ImageToImage | None = None
    emotion_generation: EmotionGeneration | None = None

    @model_validator(mode="after")
    def _something_to_build(self):
        if self.captions is not None:
            if self.rewriter is None or not self.generators:
                raise ValueError("a paired benchmark (captions) needs a rewriter and at least one generator")
        else:
            given = [
                k for k in ("rewriter", "negative_writer", "generators", "judges", "comparisons") if getattr(self, k)
            ]
            if given:
                raise ValueError(f"{', '.join(given)} without captions: the paired benchmark needs captions")
            studies = (self.real_photos, self.artworks, self.emotion_bias, self.image_to_image, self.emotion_generation)
            if all(x is None for x in studies):
                raise ValueError(
                    "nothing to build: give captions (the paired benchmark), real_photos, artworks or a study"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _expand_refs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in ("rewriter", "negative_writer"):
                if data.get(key) is not None:
                    data[key] = _ref(data[key])
            for key in ("generators", "judges", "scorers"):
                if isinstance(data.get(key), list):
                    data[key] = [_ref(v) for v in data[key]]
        return data
