"""`aas import-hf` of the authors' real-image layouts into the `real_photos` and `artworks` configs.

- `real_images` (scripts/publish_real_images_hf_dataset.py in weathon/icml2026_position, Parquet):
  image, original_path, file_name and the string lists class_keys (their retrieval commit
  ids), queries, source_datasets, messages, annotations_json (one JSON record per commit).
- `real_images_folder` (anti_aesthetics_agent/upload_to_hf.py, an imagefolder): the images
  and a metadata.jsonl of file_name, filename, query (list), message (list).
- `artworks` (the LAPIS set; its code is unpublished): image and caption, optional scores
  hpsv3 ([mu, log sigma] or a number), hpsv2 (HPSv2.1, as in the benchmark) and image_reward;
  any other non-image column is kept, per row, in the `metadata` JSON.

Every image passes the ingest boundary (`spec.images.ingest_bytes`); one that may not enter, or
repeats an earlier image's bytes, is a failure naming its row, recorded in MANIFEST, and the
rest of the import stands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from aas_dataset.spec.images import ImageProblem, ingest_bytes, inside
from aas_dataset.spec.schema import config_columns


class ImportFormatError(ValueError):
    """A source that is not one of the authors' layouts, or a value it may not hold."""


REAL_V2 = {
    "image",
    "original_path",
    "file_name",
    "class_keys",
    "queries",
    "source_datasets",
    "messages",
    "annotations_json",
}
REAL_V1 = {"file_name", "filename", "query", "message"}
ART_REQUIRED = {"image", "caption"}
# published score column -> (catalog scorer, outputs of a [mu, log sigma] list)
ART_SCORES = {"hpsv3": "hpsv3", "hpsv2": "hpsv2_1", "image_reward": "image_reward"}


class _Failures:
    """Rows that may not enter: named per row, kept for MANIFEST."""

    def __init__(self, layout: str):
        self.layout = layout
        self.items: list[dict] = []
        self.seen: dict[str, str] = {}

    def add(self, where: str, reason: str) -> None:
        self.items.append(
            {"stage": "import", "backend": self.layout, "outcome": "failed", "reason": f"{where}: {reason}"}
        )

    def ingest(self, data, where: str):
        """The ingested image, or None (the failure recorded)."""
        try:
            if not isinstance(data, bytes | bytearray) or not data:
                raise ImageProblem("image bytes are missing")
            ing = ingest_bytes(bytes(data))
        except ImageProblem as e:
            self.add(where, str(e))
            return None
        if (first := self.seen.setdefault(ing.sha256, where)) != where:
            self.add(where, f"duplicate of {first} (same sha256)")
            return None
        return ing


def _strings(v, where: str, col: str) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise ImportFormatError(f"{where}, column {col!r}: expected a list of strings, got {v!r:.60}")
    return list(v)


def _photo_row(i: int, file_name: str, ing, queries: list[str], messages: list[str], commit_ids: list[str]) -> dict:
    return {
        "index": i,
        "file_name": file_name,
        "sha256": ing.sha256,
        "image": {"bytes": ing.data, "path": None},
        "conversions": ing.conversions,
        "commit_ids": commit_ids,
        "queries": queries,
        "messages": messages,
        "status": "imported",
    }


def real_images_rows(rows: Iterator[tuple[Path, int, dict]], fails: _Failures) -> Iterator[dict]:
    """The Parquet layout: one row per distinct image with its commits' lists."""
    for i, (f, n, r) in enumerate(rows):
        where = f"{f.name}: row {n}"
        lists = {c: _strings(r.get(c), where, c) for c in ("class_keys", "queries", "messages", "annotations_json")}
        for j, a in enumerate(lists["annotations_json"]):
            try:
                json.loads(a)
            except ValueError:
                raise ImportFormatError(f"{where}, column 'annotations_json': item {j} is not JSON") from None
        image = r.get("image") or {}
        if (ing := fails.ingest(image.get("bytes") if isinstance(image, dict) else None, where)) is None:
            continue
        name = r.get("file_name")
        if not isinstance(name, str) or not name:
            raise ImportFormatError(f"{where}, column 'file_name': expected a file name, got {name!r:.40}")
        yield _photo_row(i, name, ing, lists["queries"], lists["messages"], lists["class_keys"])


def real_images_folder_rows(root: Path, fails: _Failures) -> Iterator[dict]:
    """The imagefolder layout: metadata.jsonl rows (file_name, filename, query, message)."""
    meta = next(iter(sorted(root.rglob("metadata.jsonl"))), None)
    base = meta.parent
    for n, line in enumerate(meta.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        where = f"{meta.name}: line {n + 1}"
        try:
            r = json.loads(line)
        except ValueError as e:
            raise ImportFormatError(f"{where}: not JSON ({e})") from None
        if not isinstance(r, dict) or not isinstance(r.get("file_name"), str):
            raise ImportFormatError(f"{where}: a JSON object with a string file_name expected")
        if unknown := sorted(set(r) - REAL_V1):
            raise ImportFormatError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            data = inside(base, r["file_name"]).read_bytes()
        except ImageProblem as e:
            fails.add(where, str(e))
            continue
        if (ing := fails.ingest(data, f"{where} ({r['file_name']})")) is None:
            continue
        yield _photo_row(
            n,
            r["file_name"],
            ing,
            _strings(r.get("query"), where, "query"),
            _strings(r.get("message"), where, "message"),
            [],
        )


def _score(v, where: str, col: str):
    if v is None:
        return None, None
    if isinstance(v, list | tuple):
        if len(v) == 1:
            return v[0], None
        if len(v) == 2:
            return v[0], v[1]
        raise ImportFormatError(f"{where}, column {col!r}: expected a number or [mu, log sigma], got {len(v)} values")
    return v, None


def artworks_rows(rows: Iterator[tuple[Path, int, dict]], names: set[str], fails: _Failures) -> Iterator[dict]:
    extra = sorted(n for n in names - ART_REQUIRED - set(ART_SCORES) if n != "file_name")
    for i, (f, n, r) in enumerate(rows):
        where = f"{f.name}: row {n}"
        caption = r.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ImportFormatError(f"{where}, column 'caption': expected a caption, got {caption!r:.40}")
        image = r.get("image") or {}
        if (ing := fails.ingest(image.get("bytes") if isinstance(image, dict) else None, where)) is None:
            continue
        meta = {k: r[k] for k in extra if not isinstance(r[k], dict | bytes)}
        row = {
            "index": i,
            "file_name": r.get("file_name") or (image.get("path") if isinstance(image, dict) else None) or f"{i:06d}",
            "sha256": ing.sha256,
            "image": {"bytes": ing.data, "path": None},
            "metadata": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str) if meta else None,
            "conversions": ing.conversions,
            "caption": caption,
            "captioner": "imported",
        }
        for col, scorer in ART_SCORES.items():
            if col in names:
                mu, sigma = _score(r.get(col), where, col)
                row[f"score_{scorer}"] = None if mu is None else {"caption": mu, "shuffled": None}
                if scorer == "hpsv3":
                    row["score_hpsv3_log_sigma"] = None if sigma is None else {"caption": sigma, "shuffled": None}
        yield row


def artworks_columns(names: set[str]):
    from aas_dataset.spec.schema import Column

    extra = []
    for col, scorer in ART_SCORES.items():
        if col in names:
            extra.append(Column(f"score_{scorer}", "artscore", f"published `{col}` under the artwork's caption"))
            if scorer == "hpsv3":
                extra.append(Column("score_hpsv3_log_sigma", "artscore", "published `hpsv3` second value (log sigma)"))
    return config_columns("artworks", extra=extra)
