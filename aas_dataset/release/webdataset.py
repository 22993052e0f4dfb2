"""`aas export-webdataset`: tar shards of `pairs` for the webdataset library and for
`load_dataset("webdataset", data_files=...)`.

Keys are `<model>-<index:05d>` with dots in the model name replaced (the HF builder splits a
member name at its first dot); every sample has the same members (`.distorted.png`,
`.json`, `.original.png`); tar headers are fixed (mtime 0, uid/gid 0, no user names) and
members sorted, so the export is byte-reproducible.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pyarrow.parquet as pq

from aas_dataset.release.manifest import add_files, file_entry, read_manifest
from aas_dataset.util import atomic_path

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


def export_webdataset(root: Path) -> list[str]:
    root = Path(root)
    manifest = read_manifest(root)
    shards = sorted(p for p, f in manifest["files"].items() if f.get("config") == "pairs")
    written = {}
    for rel in shards:
        table = pq.read_table(root / rel)
        rows = table.to_pylist()
        name = Path(rel).name.replace(".parquet", ".tar")
        out_rel = f"{OUT_DIR}/{name}"
        members: list[tuple[str, bytes]] = []
        for row in rows:
            key = sample_key(row["model"], row["index"])
            meta = {k: v for k, v in row.items() if not k.startswith("image_")}
            members.append((f"{key}.json", json.dumps(meta, sort_keys=True).encode()))
            members.append((f"{key}.original.png", row["image_original"]["bytes"]))
            members.append((f"{key}.distorted.png", row["image_distorted"]["bytes"]))
        members.sort(key=lambda m: m[0])
        with atomic_path(root / out_rel) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for n, data in members:
                _member(tar, n, data)
        written[out_rel] = file_entry(root, out_rel, rows=len(rows), export="webdataset")
    add_files(root, written)
    return list(written)
