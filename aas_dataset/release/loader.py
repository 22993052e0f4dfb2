"""`aas_dataset.load`: a release config as a `datasets.Dataset`, validated against the schema."""

from __future__ import annotations

from pathlib import Path

from aas_dataset.spec.schema import ALL_CONFIGS, SPLIT, SchemaError, columns_from_arrow

DEFAULT_SOURCE = "aas_benchmark"


def load(
    config: str = "pairs",
    source: str | Path = DEFAULT_SOURCE,
    revision: str | None = None,
    streaming: bool = False,
):
    """Load one config (`prompts`, `pairs`, `scores`, `emotion_bias`) from a release folder or a Hub repo id.

    `revision` pins a Hub tag, branch or commit. Columns are the release's own friendly names
    (`image_original`, `image_distorted`, `prompt_original`, ...).
    """
    from datasets import load_dataset

    if config not in ALL_CONFIGS:
        raise ValueError(f"unknown config {config!r}; choose one of {', '.join(ALL_CONFIGS)}")
    local = Path(source)
    if local.exists():
        if not (local / "README.md").is_file():
            raise FileNotFoundError(f"{local}: no README.md; is this a built release folder?")
        if revision is not None:
            raise ValueError("revision applies to Hub repos, not to a local folder")
        path = str(local.resolve())
    else:
        path = str(source)
    ds = load_dataset(path, config, split=SPLIT, revision=revision, streaming=streaming)
    features = ds.features
    if features is None:
        raise SchemaError(f"{source}: config {config!r} has no declared features")
    columns_from_arrow(features.arrow_schema, config, f"{source} ({config})")
    return ds


def iter_rows(folder: Path, config: str, columns: list[str] | None = None, batch: int = 16):
    """Rows of a local release's config as dicts, shard by shard, a few at a time: memory stays
    flat in the size of the release (no row group is pre-buffered whole, freed memory is handed
    back between batches)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aas_dataset.release.manifest import read_manifest

    m = read_manifest(folder)
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == config):
        pf = pq.ParquetFile(Path(folder) / rel, pre_buffer=False)
        for b in pf.iter_batches(batch_size=batch, columns=columns):
            yield from b.to_pylist()
            del b
            pa.default_memory_pool().release_unused()
