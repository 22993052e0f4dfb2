"""`aas export-webdataset`: tar shards of `pairs` for the webdataset library and for
`load_dataset("webdataset", data_files=...)`.

Keys are `<model>-<index:05d>` with dots in the model name replaced (the HF builder splits a
member name at its first dot); every sample has the same members (`.distorted.png`,
`.json`, `.original.png`, in that order, samples in the shard's row order); tar headers are
fixed (mtime 0, uid/gid 0, no user names), so the export is byte-reproducible. A release is
verified before it is exported, and sample keys must be unique.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aas_dataset.release.manifest import add_files, drop_files, file_entry, read_manifest, verify
from aas_dataset.release.writer import STORE_DIR, folder_lock
from aas_dataset.spec.images import ImageProblem, check_image
from aas_dataset.util import owned_tmpdir

OUT_DIR = "webdataset/pairs"


def sample_key(model: str, index: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', model)}-{index:05d}"


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class ExportError(ValueError):
    """The release cannot be exported as it is (it fails verify, or two samples share a key)."""


def _keys(root: Path, shards: list[str]) -> None:
    """Every sample key is unique: two model names that differ only in characters a key cannot
    hold ("sd3.5" and "sd3_5") would otherwise overwrite each other in a reader."""
    seen: dict[str, str] = {}
    for rel in shards:
        t = pq.read_table(root / rel, columns=["model", "index"])
        for model, index in zip(t.column("model").to_pylist(), t.column("index").to_pylist(), strict=True):
            key = sample_key(model, index)
            if seen.setdefault(key, model) != model:
                raise ExportError(
                    f"{root}: models {seen[key]!r} and {model!r} both map to the WebDataset key {key!r}; "
                    "rename one (keys allow letters, digits, '_' and '-'), nothing exported"
                )


def export_webdataset(root: Path) -> list[str]:
    """One tar per pairs shard, samples in the shard's row order, one row group in memory.

    The release must pass verify (problems in an earlier export, which this one replaces, aside).
    Tars are written into the release's own temp folder and moved in only when every one is
    complete, then recorded in MANIFEST: a failure or a crash leaves the release as it was, or
    with an export that the next run replaces."""
    root = Path(root)
    read_manifest(root)  # a release of ours, before the lock adds our state folder to it
    with folder_lock(root, "a WebDataset export"):
        return _export(root)


def _export(root: Path) -> list[str]:
    checked = verify(root)
    problems = [p for p in checked.problems if not p.startswith(f"{OUT_DIR}/")]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExportError(f"{root}: verify failed, nothing exported: {problems[0]}{more}")
    manifest = read_manifest(root)
    shards = sorted(p for p, f in manifest["files"].items() if f.get("config") == "pairs")
    _keys(root, shards)
    staging = owned_tmpdir(root / STORE_DIR / "tmp", "export")
    try:
        written = {}
        for rel in shards:
            out_rel = f"{OUT_DIR}/{Path(rel).name.replace('.parquet', '.tar')}"
            written[out_rel] = _write_tar(root, rel, staging / Path(out_rel).name)
        drop_files(root, [p for p, f in manifest["files"].items() if f.get("export") == "webdataset"])
        shutil.rmtree(root / OUT_DIR, ignore_errors=True)
        (root / OUT_DIR).mkdir(parents=True)
        for out_rel in written:
            (staging / Path(out_rel).name).rename(root / out_rel)
        add_files(
            root, {out_rel: file_entry(root, out_rel, rows=n, export="webdataset") for out_rel, n in written.items()}
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return list(written)


def _write_tar(root: Path, rel: str, dest: Path) -> int:
    """The tar of one pairs shard; its row count. Every image is checked before it is shipped."""
    pf = pq.ParquetFile(root / rel, pre_buffer=False)
    n = 0
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tar:
        for g in range(pf.num_row_groups):
            for row in pf.read_row_group(g).to_pylist():
                for col in ("image_original", "image_distorted"):
                    try:
                        check_image(row[col]["bytes"])
                    except ImageProblem as e:
                        raise ExportError(f"{rel}: row {n}, column {col!r}: {e}; nothing exported") from None
                n += 1
                key = sample_key(row["model"], row["index"])
                meta = {k: v for k, v in row.items() if not k.startswith("image_")}
                # members of a sample in name order: .distorted.png, .json, .original.png
                _member(tar, f"{key}.distorted.png", row["image_distorted"]["bytes"])
                _member(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
                _member(tar, f"{key}.original.png", row["image_original"]["bytes"])
            pa.default_memory_pool().release_unused()
    return n
