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
