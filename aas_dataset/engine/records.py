"""What each stage's artifact holds: one typed record per stage, one codec for the stage that
writes it and for the assembly that reads it back.

A record's `meta.json` holds its fields (optional ones only when set); images travel beside it
as PNG files. The JSON is written with sorted keys, so a record's bytes depend only on its
values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from aas_dataset.engine.stages.base import json_bytes
from aas_dataset.engine.store import Store


@dataclass
class Record:
    STAGE: ClassVar[str]
    OPTIONAL: ClassVar[tuple[str, ...]] = ()  # written only when not None

    def meta(self) -> dict:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not (f.name in self.OPTIONAL and getattr(self, f.name) is None)
        }

    def files(self) -> dict[str, bytes]:
        return {"meta.json": json_bytes(self.meta())}

    @classmethod
    def read(cls, store: Store, key: str | None):
        """The record of `key`, or None when the unit has no artifact (failed or not run)."""
        if key is None or not store.has(cls.STAGE, key):
            return None
        return cls(**store.read_json(cls.STAGE, key))

    @property
    def usage_of(self) -> dict | None:
        """Tokens a model used to produce this record (LLM steps), for the cost summary."""
        return getattr(self, "usage", None)


@dataclass
class PromptRecord(Record):
    STAGE = "prompts"
    OPTIONAL = ("usage",)
    index: int
    prompt_original: str
    prompt_distorted: str
    selected_dims: list[str]
    effects: str  # the effect descriptions the rewriter was given, one per line
    rewriter: str
    usage: dict | None = None


@dataclass
class NegativeRecord(Record):
    STAGE = "negatives"
    OPTIONAL = ("usage",)
    negative_prompt: str
    usage: dict | None = None


@dataclass
class PairRecord(Record):
    """I_o and I_a of one (model, index); the images are `original.png` / `distorted.png`."""

    STAGE = "generate"
    OPTIONAL = ("negative_prompt",)
    VARIANTS: ClassVar[tuple[str, str]] = ("original", "distorted")
    model: str
    index: int
    seeds: dict | None  # None: the model takes no seed (image APIs)
    size: list[int]
    negative_prompt: str | None = None

    def files_with(self, original_png: bytes, distorted_png: bytes) -> dict[str, bytes]:
        return {"original.png": original_png, "distorted.png": distorted_png, **self.files()}

    @staticmethod
    def image(store: Store, key: str, variant: str) -> bytes:
        return store.read(PairRecord.STAGE, key, f"{variant}.png")


@dataclass
class JudgeRecord(Record):
    """A pairwise label (0 I_o, 1 I_a, -1 tie) with its reason, or a 0-100 grade of each image."""

    STAGE = "judge"
    label: int | None = None
    reason: str | None = None
    detail: dict | None = None
    scores: dict | None = None

    def meta(self) -> dict:
        if self.scores is not None:  # an absolute judge's grades
            return {"scores": self.scores, "detail": self.detail or {}}
        meta: dict[str, Any] = {"label": self.label, "reason": self.reason or ""}
        if self.detail:
            meta["detail"] = self.detail
        return meta

    @property
    def usage_of(self) -> dict | None:
        return (self.detail or {}).get("usage")


@dataclass
class ScoreRecord(Record):
    """r(I, p) per scorer output for the four combinations oiop, oidp, diop, didp."""

    STAGE = "score"
    scores: dict


# --- real references (real_photos, artworks) ------------------------------------------------


@dataclass
class IngestRecord(Record):
    """One outside image as it entered (`spec.images.ingest_bytes`); the image is `image.<ext>`."""

    STAGE = "ingest"
    OPTIONAL = ("human_score", "vote_count", "metadata")
    file_name: str  # path inside the source folder
    sha256: str  # of the source file
    ext: str
    width: int
    height: int
    conversions: list[str]
    human_score: float | None = None
    vote_count: int | None = None
    metadata: str | None = None  # JSON of the source's own metadata row

    def files_with(self, data: bytes) -> dict[str, bytes]:
        return {f"image.{self.ext}": data, **self.files()}

    @staticmethod
    def image(store: Store, key: str) -> bytes:
        rec = IngestRecord.read(store, key)
        return store.read(IngestRecord.STAGE, key, f"image.{rec.ext}")


@dataclass
class EmbedRecord(Record):
    STAGE = "embed"
    vector: list[float]


@dataclass
class CurationRecord(Record):
    """Retrieval (which commits kept the photo) and, for a retrieved photo, the VLM's verdict."""

    STAGE = "curate"
    OPTIONAL = ("usage",)
    retrieved_as: list[str]  # tags whose commits kept the photo; [] = not retrieved (no VLM call)
    similarity: float | None  # the highest query cosine among those commits
    status: str  # not_retrieved | accepted | rejected
    reason: str | None = None  # why rejected
    elements: list[str] | None = None
    clean_caption: str | None = None
    anti_aesthetic_caption: str | None = None
    usage: dict | None = None


@dataclass
class TwinRecord(Record):
    """The clean twin of an accepted photo (`twin.png`), or why there is none."""

    STAGE = "twin"
    OPTIONAL = ("skipped",)
    seed: int | None
    skipped: str | None = None  # the curation status of a photo that has no twin

    @classmethod
    def read(cls, store: Store, key: str | None):
        rec = super().read(store, key)
        if rec is not None and rec.skipped is None:
            rec.png = store.read(cls.STAGE, key, "twin.png")
        return rec


@dataclass
class PhotoScoreRecord(Record):
    """r(I, p) per scorer output for the four combinations (I_o = twin, I_a = photo); None when
    the photo has no twin (not accepted)."""

    STAGE = "photoscore"
    scores: dict | None


@dataclass
class CaptionRecord(Record):
    STAGE = "caption"
    OPTIONAL = ("usage",)
    caption: str
    usage: dict | None = None


@dataclass
class ArtScoreRecord(Record):
    """r(artwork, its caption) and r(artwork, another artwork's caption) per scorer output."""

    STAGE = "artscore"
    scores: dict | None  # output -> {"caption": r, "shuffled": r}


# --- side studies -----------------------------------------------------------------------------


@dataclass
class EmotionImagesRecord(Record):
    """The happy image and its three edits (`happy.png`, `sad.png`, `angry.png`, `fearful.png`)."""

    STAGE = "emotion_images"
    seed: int | None

    @staticmethod
    def image(store: Store, key: str, emotion: str) -> bytes:
        return store.read(EmotionImagesRecord.STAGE, key, f"{emotion}.png")


@dataclass
class EmotionCaptionRecord(Record):
    STAGE = "emotion_caption"
    OPTIONAL = ("usage",)
    prompt: str
    usage: dict | None = None


@dataclass
class EmotionScoreRecord(Record):
    STAGE = "emotion_score"
    scores: dict  # output -> {sad, sad_happy, angry, angry_happy, fearful, fearful_happy}


@dataclass
class Img2ImgRecord(Record):
    """One edit: `input.png` (the source release's I_a) and `edited.png`."""

    STAGE = "img2img"
    model: str
    source_model: str
    index: int
    prompt_original: str
    prompt_distorted: str
    selected_dims: list[str]
    strength: float
    seed: int | None


@dataclass
class Img2ImgScoreRecord(ScoreRecord):
    STAGE = "img2img_score"


@dataclass
class EmotionGenRecord(Record):
    """One image of the emotion-generation study (`image.png`)."""

    STAGE = "emotion_gen"
    seed: int | None


@dataclass
class FaceRecord(Record):
    """The detector's best face box (`face.png` is the crop), or none."""

    STAGE = "face"
    box: list[float] | None
    score: float | None

    @classmethod
    def read(cls, store: Store, key: str | None):
        rec = super().read(store, key)
        if rec is not None and rec.box is not None:
            rec.png = store.read(cls.STAGE, key, "face.png")
        return rec


@dataclass
class FaceScoreRecord(Record):
    STAGE = "face_score"
    scores: dict | None  # output -> r(crop, caption); None without a face
