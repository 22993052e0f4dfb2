"""The release writer: config parts -> Parquet shards, the card and MANIFEST.json, swapped
into the release folder so that a folder with a MANIFEST is always complete.

Everything is written into a staging folder first; the old MANIFEST is removed before the
new files move in and the new MANIFEST is written last. Output bytes depend only on the rows
(fixed encoder settings, no timestamps). Shared by builds and imports, so every release folder
has one shape.
"""

from __future__ import annotations

import math
import shutil
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


def shard_paths(config: str, n_rows: int, per_shard: int) -> list[str]:
    n = max(1, math.ceil(n_rows / per_shard))
    return [f"{config}/{SPLIT}-{i:05d}-of-{n:05d}.parquet" for i in range(n)]


def _write_config(
    staging: Path,
    config: str,
    columns: tuple[Column, ...],
    rows: Iterator[dict],
    n_rows: int,
    per_shard: int,
    row_group: int,
) -> list[dict]:
    schema = arrow_schema(columns)
    images = [c.name for c in columns if c.kind == "image"]
    dict_cols = [c.name for c in columns if c.kind not in ("image", "score")]
    files = []
    done = 0
    for rel in shard_paths(config, n_rows, per_shard):
        batch = [r for _, r in zip(range(per_shard), rows, strict=False)]
        for i, r in enumerate(batch):  # Arrow would coerce (1.5 -> 1); a wrong value is an error
            check_row(columns, r, f"{config}: row {done + i}")
        done += len(batch)
        table = pa.Table.from_pylist(batch, schema=schema)
        path = staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table,
            path,
            row_group_size=row_group,
            compression="zstd",
            use_dictionary=dict_cols,
            write_statistics=[c for c in dict_cols if c not in images],
        )
        files.append({"path": rel, "config": config, "rows": table.num_rows, "num_bytes": table.nbytes})
    return files


@dataclass
class ConfigPart:
    config: str
    columns: tuple[Column, ...]
    rows: Iterator[dict]
    n_rows: int
    per_shard: int


def write_release(out: Path, staging: Path, parts: list[ConfigPart], row_group: int, card: dict, meta: dict) -> dict:
    """Write configs, card and MANIFEST into `staging`, then swap them into `out` (MANIFEST last).

    Shared by builds and imports, so every release folder has one shape."""
    from aas_dataset.release.card import render_card

    try:
        files = []
        for p in parts:
            files += _write_config(staging, p.config, p.columns, p.rows, p.n_rows, p.per_shard, row_group)
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
    (staging / "README.md").replace(out / "README.md")
    # A previous WebDataset export no longer matches the new shards.
    shutil.rmtree(out / "webdataset", ignore_errors=True)
