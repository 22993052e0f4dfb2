"""Start a build from a release: rebuild the store's artifacts from the release's records.

A build's release carries `build/records.parquet`: per unit of the paired benchmark (prompts,
negatives, generate, judge, score) its stage, key and the exact bytes of its `meta.json`; the
images of a generate unit are the PNG bytes of its `pairs` row. Writing those back gives, byte
for byte, the artifacts the build had, so a recipe that adds a generator, a scorer or a judge
plans every existing unit as cached and computes only the new ones; the result equals a build
of the whole recipe from scratch. Units of other recipes' settings simply never match a key.

Provenance (which units came from which release) is kept in `.aas/hydrated.json` beside the
store, not in the release, so the release itself does not depend on how it was built; `aas
release` names the base release in its notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aas_dataset.engine.store import Store
from aas_dataset.release.manifest import read_manifest
from aas_dataset.release.writer import RECORDS


@dataclass
class Hydrated:
    source: str
    written: int = 0
    present: int = 0  # already in the store


def source_folder(source: str, revision: str | None = None) -> Path:
    """A local release folder, or a Hub dataset repo at `revision` fetched to the local cache."""
    p = Path(source)
    if p.exists():
        if revision:
            raise ValueError("--revision applies to a Hub repo, not to a local folder")
        return p
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, repo_type="dataset", revision=revision))


def release_records(folder: Path):
    """(stage, key, meta) of a release's build records; ValueError if it has none."""
    import pyarrow.parquet as pq

    m = read_manifest(folder)
    if RECORDS not in m["files"]:
        raise ValueError(f"{folder}: the release has no build records ({RECORDS}): an import, or built before them")
    for batch in pq.ParquetFile(folder / RECORDS).iter_batches(batch_size=4096):
        cols = [batch.column(c).to_pylist() for c in ("stage", "key", "meta")]
        yield from zip(*cols, strict=True)


def record_keys(folder: Path) -> set[tuple[str, str]]:
    return {(stage, key) for stage, key, _ in release_records(folder)}


def _pairs_index(folder: Path) -> dict[tuple[str, int], tuple[str, int, int]]:
    import pyarrow.parquet as pq

    m = read_manifest(folder)
    out = {}
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == "pairs"):
        pf = pq.ParquetFile(folder / rel)
        for rg in range(pf.num_row_groups):
            for i, r in enumerate(pf.read_row_group(rg, columns=["model", "index"]).to_pylist()):
                out[(r["model"], r["index"])] = (rel, rg, i)
    return out


def hydrate(store: Store, folder: Path, label: str) -> Hydrated:
    """Write every unit the release records into `store` (those already there are left)."""
    import pyarrow.parquet as pq

    res = Hydrated(label)
    where = None
    cache: dict = {}
    keys = []
    for stage, key, meta in release_records(folder):
        keys.append(f"{stage}/{key}")
        if store.has(stage, key):
            res.present += 1
            continue
        files = {"meta.json": meta}
        if stage == "generate":
            where = where if where is not None else _pairs_index(folder)
            m = json.loads(meta)
            rel, rg, i = where[(m["model"], m["index"])]
            if cache.get("at") != (rel, rg):
                t = pq.ParquetFile(folder / rel).read_row_group(rg, columns=["image_original", "image_distorted"])
                cache.update(at=(rel, rg), table=t)
            row = {c: cache["table"].column(c)[i].as_py()["bytes"] for c in ("image_original", "image_distorted")}
            files = {"original.png": row["image_original"], "distorted.png": row["image_distorted"], **files}
        store.write(stage, key, files)
        res.written += 1
    prov = store.root.parent / "hydrated.json"  # OUT/.aas/hydrated.json: which units came from where
    prov.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(prov.read_text()) if prov.is_file() else {}
    known[label] = sorted(set(known.get(label, [])) | set(keys))
    prov.write_text(json.dumps(known, indent=1, sort_keys=True))
    return res
