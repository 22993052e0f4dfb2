"""What a recipe may say about the real references: anti-aesthetic photographs with clean twins
(`real_photos`) and canonized artworks (`artworks`), each a config of the same release.

Retrieval is data: per taxonomy tag ("class.sub_class") a list of commits in the authors'
dataset.json shape (query, threshold, negative prompts, negative threshold, message). A commit
keeps the images whose cosine to the query is >= threshold and whose cosine to every negative
prompt is <= the negative threshold (weathon/icml2026_position anti_aesthetics_agent/
agent_sdk_tools.py, `commit`: `res >= threshold`, excluded when `sim > negative_threshold`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from aas_dataset.spec.taxonomy import AVA_CLASSES
from aas_dataset.util import Strict

TAGS: tuple[str, ...] = tuple(f"{c}.{s}" for c, subs in AVA_CLASSES.items() for s in subs)


def tag_problem(tag: object) -> str | None:
    """Why `tag` is not a "class.sub_class" of the taxonomy, or None."""
    if tag in TAGS:
        return None
    return f"{tag!r} is not a class.sub_class of the taxonomy (e.g. {TAGS[0]})"


def tags_problem(tags: list[str]) -> str | None:
    """Unknown tags, or more than one tag of one class (the curation rule)."""
    for t in tags:
        if p := tag_problem(t):
            return p
    classes = [t.split(".")[0] for t in tags]
    if dup := sorted({c for c in classes if classes.count(c) > 1}):
        return f"more than one tag of class {dup[0]} (at most one per class)"
    return None


class ModelName(Strict):
    name: str
    settings: dict[str, Any] = {}


def _ref(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class ImageSource(Strict):
    """A local folder of images. `votes`: AVA's vote file (AVA.txt: row, image id, ten vote
    counts for scores 1..10, ...), giving each image its mean score and vote count.
    `metadata`: a JSON Lines file with `file_name` and any other fields (kept per row as JSON)."""

    folder: str
    votes: str | None = None
    metadata: str | None = None
    extensions: list[str] = [".jpg", ".jpeg", ".png", ".webp"]
    limit: int | None = Field(default=None, ge=1)  # the first N files in name order


class Commit(Strict):
    """One retrieval commit, as the authors' dataset.json stores it (their extra fields
    `dataset`, `images` and `size` are accepted and ignored: the images are recomputed)."""

    query: str = Field(min_length=1)
    threshold: float = Field(ge=-1, le=1)
    negative_prompts: list[str] = []
    negative_threshold: float | None = Field(default=None, ge=-1, le=1)
    message: str = ""
    id: str | None = None  # the authors' commit id, when read from their dataset.json
    dataset: str | None = None
    images: list[str] | None = None
    size: int | None = None

    @model_validator(mode="after")
    def _negatives_need_threshold(self):
        if self.negative_prompts and self.negative_threshold is None:
            raise ValueError("negative_prompts need a negative_threshold")
        return self


class Retrieval(Strict):
    embedder: ModelName
    # tag -> commits, inline or in a JSON file of the same shape; or the authors' dataset.json
    # itself (commit id -> commit) with `commit_tags` naming each id's class.sub_class
    commits: dict[str, list[Commit]] | None = None
    commits_file: str | None = None
    commit_tags: dict[str, str] = {}

    @field_validator("embedder", mode="before")
    @classmethod
    def _expand(cls, v):
        return _ref(v)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.commits is None) == (self.commits_file is None):
            raise ValueError("give exactly one of commits, commits_file")
        for tag in self.commits or {}:
            if p := tag_problem(tag):
                raise ValueError(f"commits: {p}")
        return self

    def resolved_commits(self, base: Path) -> dict[str, list[Commit]]:
        if self.commits is not None:
            return self.commits
        path = base / self.commits_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read the commits ({e})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: commits must be a mapping of class.sub_class to a list of commits")
        if data and all(isinstance(v, dict) and "query" in v for v in data.values()):
            return self._by_id(data, path)
        out = {}
        for tag, commits in data.items():
            if p := tag_problem(tag):
                raise ValueError(f"{path}: {p}")
            if not isinstance(commits, list):
                raise ValueError(f"{path}: {tag}: a list of commits expected")
            try:
                out[tag] = [Commit.model_validate(c) for c in commits]
            except Exception as e:  # pydantic's first error, one line
                first = e.errors()[0] if hasattr(e, "errors") else {"loc": (), "msg": str(e)}
                raise ValueError(f"{path}: {tag}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return out

    def _by_id(self, data: dict, path: Path) -> dict[str, list[Commit]]:
        """The authors' layout: {commit id: commit}; each id's tag comes from `commit_tags`."""
        out: dict[str, list[Commit]] = {}
        for cid, body in data.items():
            tag = self.commit_tags.get(cid)
            if tag is None:
                raise ValueError(f"{path}: commit {cid}: no class.sub_class for it in retrieval.commit_tags")
            if p := tag_problem(tag):
                raise ValueError(f"retrieval.commit_tags.{cid}: {p}")
            try:
                out.setdefault(tag, []).append(Commit.model_validate({**body, "id": cid}))
            except Exception as e:
                first = e.errors()[0] if hasattr(e, "errors") else {"loc": (), "msg": str(e)}
                raise ValueError(f"{path}: {cid}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return out


class Release(Strict):
    """What may be published of a reference config: its images' terms differ from generated ones."""

    license: str = "other"
    # False: the images may not be redistributed; `aas release` refuses the config unless it is
    # metadata-only (ids, captions, scores; no pixels).
    redistribute: bool = False
    metadata_only: bool = False


class RealPhotos(Release):
    source: ImageSource
    retrieval: Retrieval
    curator: ModelName  # VLM: elements, clean caption, anti-aesthetic caption, or a rejection
    twin_generator: ModelName  # renders each clean caption (Z-Image-Turbo in the authors' runs)
    seed: int = 0

    @field_validator("curator", "twin_generator", mode="before")
    @classmethod
    def _expand(cls, v):
        return _ref(v)


class Artworks(Release):
    source: ImageSource
    captioner: ModelName
    # model -> mean score on a published leaderboard of `leaderboard_scorer` (e.g. HPSv3's)
    leaderboard: dict[str, float] = {}
    leaderboard_scorer: str | None = None
    seed: int = 0  # the shuffled-caption partner of each artwork

    @field_validator("captioner", mode="before")
    @classmethod
    def _expand(cls, v):
        return _ref(v)

    @model_validator(mode="after")
    def _leaderboard(self):
        if self.leaderboard and not self.leaderboard_scorer:
            raise ValueError("a leaderboard needs leaderboard_scorer (the recipe scorer it was measured with)")
        if self.leaderboard and len(self.leaderboard) < 2:
            raise ValueError("a leaderboard needs at least two models (r_min < r_max)")
        return self
