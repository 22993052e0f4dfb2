"""The release writer: config parts -> Parquet shards, the card and MANIFEST.json, swapped
into the release folder so that a folder with a MANIFEST is always complete.

Everything is written into a staging folder first; the old MANIFEST is removed before the
new files move in and the new MANIFEST is written last. Output bytes depend only on the rows
(fixed encoder settings, no timestamps). Shared by builds and imports, so every release folder
has one shape.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aas_dataset.release.manifest import MANIFEST, build_manifest
from aas_dataset.spec.schema import ALL_CONFIGS, SPLIT, Column, arrow_schema, check_row
from aas_dataset.util import crash_point, write_json_atomic

SCORES_SHARD_ROWS = 100_000  # the image-free configs stay one file until they are large
STORE_DIR = ".aas"  # a build's own state inside its release folder; never part of a release


class ReleaseFolderError(ValueError):
    """The output folder is not ours to write: a one-line reason, raised before any write."""


def claim(out: Path, name: str, overwrite: bool = False) -> None:
    """Refuse to write into `out` unless it is ours: missing, empty, a release of ours (its
    MANIFEST) or a build of ours in progress (its `.aas/` store). Replacing a release of another
    recipe needs `overwrite`. Nothing of the user's is ever replaced."""
    from aas_dataset.release.manifest import read_manifest

    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ReleaseFolderError(f"{out}: is a file, not a release folder")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if (out / MANIFEST).exists():
        try:
            existing = read_manifest(out)["name"]
        except (ValueError, KeyError) as e:
            raise ReleaseFolderError(f"{out}: its MANIFEST.json is not ours ({e}); nothing written") from None
        if existing != name and not overwrite:
            raise ReleaseFolderError(
                f"{out}: holds the release {existing!r}, not {name!r}; pass --overwrite to replace it"
            )
        return
    if (out / STORE_DIR).is_dir():
        return  # an interrupted build or import of ours
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise ReleaseFolderError(
        f"{out}: not empty and not an aas_dataset release ({shown}); choose an empty folder, nothing written"
    )


# Memory stays flat in the size of a release: rows are written as they come, in row groups of
# at most `row_group` rows and about ROW_GROUP_BYTES (uncompressed), into shards of at most
# `per_shard` rows and about SHARD_BYTES. A reader holds one row group at a time, so the byte
# bound is what keeps reading cheap too (`datasets` aims at 100 MB row groups, 500 MB shards;
# ours are smaller because a row of 512x512 PNG pairs is already about 1.5 MB).
ROW_GROUP_BYTES = 32 * 2**20
SHARD_BYTES = 500 * 10**6


@contextlib.contextmanager
def folder_lock(out: Path, what: str) -> Iterator[None]:
    """One writer per release folder: an advisory lock in the folder's own state directory,
    freed by the kernel if its holder dies. A second writer gets a one-line error naming the
    holder (what it is, its pid and host) instead of interleaving its files with the first's."""
    from filelock import FileLock, Timeout

    state = Path(out) / STORE_DIR
    state.mkdir(parents=True, exist_ok=True)
    holder = state / "lock.holder"
    lock = FileLock(state / "lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = holder.read_text().strip() if holder.is_file() else "another process"
        raise ReleaseFolderError(f"{out}: {who} is writing this folder; wait until it ends") from None
    try:
        holder.write_text(f"{what} (pid {os.getpid()} on {socket.gethostname()})")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def shard_name(config: str, i: int, n: int) -> str:
    return f"{config}/{SPLIT}-{i:05d}-of-{n:05d}.parquet"


def row_bytes(row: dict) -> int:
    """About how many bytes a row takes in Arrow: its binary and text payloads, 8 per other value."""
    total = 0
    for v in row.values():
        if isinstance(v, dict):
            total += row_bytes(v)
        elif isinstance(v, bytes | str):
            total += len(v)
        elif isinstance(v, list | tuple):
            total += sum(len(x) if isinstance(x, bytes | str) else 8 for x in v)
        else:
            total += 8
    return total


class _ShardWriter:
    """Rows in, shards out: row groups flushed by count or bytes, shards closed by count or bytes."""

    def __init__(self, staging: Path, config: str, columns: tuple[Column, ...], per_shard: int, row_group: int):
        self.staging, self.config, self.columns = staging, config, columns
        self.per_shard, self.row_group = per_shard, row_group
        self.schema = arrow_schema(columns)
        images = [c.name for c in columns if c.kind == "image"]
        self.dict_cols = [c.name for c in columns if c.kind not in ("image", "score")]
        self.stats_cols = [c for c in self.dict_cols if c not in images]
        self.shards: list[dict] = []  # {"tmp": Path, "rows": int, "num_bytes": int}
        self.writer: pq.ParquetWriter | None = None
        self.buf: list[dict] = []
        self.buf_bytes = 0

    def add(self, row: dict) -> None:
        if self.writer is None:
            self._open()
        self.buf.append(row)
        self.buf_bytes += row_bytes(row)
        if len(self.buf) >= self.row_group or self.buf_bytes >= ROW_GROUP_BYTES:
            self._flush()
        shard = self.shards[-1]
        if shard["rows"] + len(self.buf) >= self.per_shard or shard["num_bytes"] >= SHARD_BYTES:
            self._close()

    def finish(self) -> list[dict]:
        if self.writer is None and not self.shards:  # no rows at all: one empty shard keeps the config
            self._open()
        self._close()
        n = len(self.shards)
        files = []
        for i, shard in enumerate(self.shards):
            rel = shard_name(self.config, i, n)
            shard["tmp"].rename(self.staging / rel)
            files.append({"path": rel, "config": self.config, "rows": shard["rows"], "num_bytes": shard["num_bytes"]})
        return files

    def _open(self) -> None:
        tmp = self.staging / self.config / f".part-{len(self.shards):05d}.parquet"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(
            tmp,
            self.schema,
            compression="zstd",
            use_dictionary=self.dict_cols,
            write_statistics=self.stats_cols,
        )
        self.shards.append({"tmp": tmp, "rows": 0, "num_bytes": 0})

    def _flush(self) -> None:
        if not self.buf:
            return
        table = pa.Table.from_pylist(self.buf, schema=self.schema)
        self.writer.write_table(table, row_group_size=len(self.buf))
        self.shards[-1]["rows"] += table.num_rows
        self.shards[-1]["num_bytes"] += table.nbytes
        self.buf, self.buf_bytes = [], 0

    def _close(self) -> None:
        if self.writer is None:
            return
        self._flush()
        if self.shards[-1]["rows"] == 0 and len(self.shards) > 1:  # nothing after the last full shard
            self.writer.close()
            self.shards.pop()["tmp"].unlink()
        else:
            self.writer.close()
        self.writer = None


def _write_config(
    staging: Path, config: str, columns: tuple[Column, ...], rows: Iterator[dict], per_shard: int, row_group: int
) -> list[dict]:
    out = _ShardWriter(staging, config, columns, per_shard, row_group)
    for i, r in enumerate(rows):
        check_row(columns, r, f"{config}: row {i}")  # Arrow would coerce (1.5 -> 1); a wrong value is an error
        out.add(r)
    return out.finish()


@dataclass
class ConfigPart:
    config: str
    columns: tuple[Column, ...]
    rows: Iterator[dict]
    per_shard: int  # at most this many rows per shard (and about SHARD_BYTES)


RECORDS = "build/records.parquet"  # the build's records, so a later build can start from the release
_RECORDS_SCHEMA = pa.schema([("stage", pa.string()), ("key", pa.string()), ("meta", pa.binary())])


def _write_records(staging: Path, records) -> dict:
    """(stage, unit key, the exact meta.json bytes of its artifact) per unit, in plan order."""
    path = staging / RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    n, buf = 0, []
    with pq.ParquetWriter(path, _RECORDS_SCHEMA, compression="zstd") as w:
        for stage, key, meta in records:
            buf.append({"stage": stage, "key": key, "meta": meta})
            if len(buf) >= 4096:
                w.write_table(pa.Table.from_pylist(buf, schema=_RECORDS_SCHEMA))
                n, buf = n + len(buf), []
        if buf or not n:
            w.write_table(pa.Table.from_pylist(buf, schema=_RECORDS_SCHEMA))
            n += len(buf)
    return {"path": RECORDS, "config": None, "rows": n}


EXAMPLES = "examples"  # a few pairs as small JPEGs, shown in the card (the Parquet holds the lossless images)
EXAMPLE_PAIRS = 4


def _write_examples(staging: Path, files: list[dict], ground_truth: str | None) -> tuple[list[dict], list[dict]]:
    """Up to EXAMPLE_PAIRS pairs of the `pairs` config, each from another model and another
    prompt (in release order), as 256-px JPEG thumbnails under examples/. Returns the card's
    view of them and their file entries. The rows are chosen from the `model` and `index`
    columns alone; only the chosen rows' row groups are read for their images (a release of
    many GB reads a few row groups). A stored image that does not decode is skipped."""
    from aas_dataset.spec.images import ImageProblem, jpeg_thumbnail

    shards = sorted(f["path"] for f in files if f["config"] == "pairs")
    candidates, seen_models, seen_index = [], set(), set()
    for rel in shards:
        keys = pq.read_table(staging / rel, columns=["model", "index"]).to_pylist()
        for position, r in enumerate(keys):
            if r["model"] not in seen_models and r["index"] not in seen_index:
                seen_models.add(r["model"])
                seen_index.add(r["index"])
                candidates.append((rel, position))
    label = f"label_{ground_truth}" if ground_truth else None
    picked: list[dict] = []
    for rel, position in candidates:
        if len(picked) == EXAMPLE_PAIRS:
            break
        pf = pq.ParquetFile(staging / rel, pre_buffer=False)
        cols = ["model", "index", "prompt_distorted", "image_original", "image_distorted"]
        cols += [label] if label and label in pf.schema_arrow.names else []
        group, offset = 0, position
        while offset >= pf.metadata.row_group(group).num_rows:
            offset -= pf.metadata.row_group(group).num_rows
            group += 1
        r = pf.read_row_group(group, columns=cols).slice(offset, 1).to_pylist()[0]
        try:
            thumbs = [jpeg_thumbnail(r[c]["bytes"], 256) for c in ("image_original", "image_distorted")]
        except (ImageProblem, TypeError):
            continue
        stem = f"{EXAMPLES}/{len(picked)}-{r['model']}-{r['index']}"
        (staging / EXAMPLES).mkdir(exist_ok=True)
        for side, data in zip(("o", "a"), thumbs, strict=True):
            (staging / f"{stem}-{side}.jpg").write_bytes(data)
        picked.append(
            {"model": r["model"], "index": r["index"], "p_a": r["prompt_distorted"], "label": r.get(label),
             "original": f"{stem}-o.jpg", "distorted": f"{stem}-a.jpg"}
        )  # fmt: skip
    entries = [{"path": e[k], "config": None, "rows": None} for e in picked for k in ("original", "distorted")]
    return picked, entries


def write_release(
    out: Path, staging: Path, parts: list[ConfigPart], row_group: int, card: dict, meta: dict, records=None
) -> dict:
    """Write configs, card and MANIFEST into `staging`, then swap them into `out` (MANIFEST last).
    `records`: (stage, key, meta.json bytes) of the units the rows came from (builds only).

    Shared by builds and imports, so every release folder has one shape."""
    from aas_dataset.release.card import render_card

    try:
        files = []
        for p in parts:
            files += _write_config(staging, p.config, p.columns, p.rows, p.per_shard, row_group)
        if records is not None:
            files.append(_write_records(staging, records))
        card["examples"], example_files = _write_examples(staging, files, card.get("ground_truth"))
        files += example_files
        columns = {p.config: p.columns for p in parts}
        (staging / "README.md").write_text(render_card(card, columns, files, staging), encoding="utf-8")
        manifest = build_manifest(staging, files, **meta)
        crash_point("assemble:staged")
        _swap_in(staging, out, [p.config for p in parts])
        write_json_atomic(out / MANIFEST, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _swap_in(staging: Path, out: Path, configs: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # from here until the end, the folder is "incomplete"
    for stale in out.glob(".*.tmp"):  # an atomic write (MANIFEST, README) of a killed assembly
        stale.unlink(missing_ok=True)
    for config in ALL_CONFIGS:  # configs of an earlier release that this one lacks go too
        dest = out / config
        if dest.exists():
            shutil.rmtree(dest)
        if config in configs:
            (staging / config).rename(dest)
            crash_point(f"assemble:swap:{config}")
    for folder in ("build", EXAMPLES):  # an earlier release's records and examples go, this one's come
        shutil.rmtree(out / folder, ignore_errors=True)
        if (staging / folder).is_dir():
            (staging / folder).rename(out / folder)
    (staging / "README.md").replace(out / "README.md")
    # A previous WebDataset export no longer matches the new shards.
    shutil.rmtree(out / "webdataset", ignore_errors=True)
