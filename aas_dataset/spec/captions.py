"""Caption sources: inline, a text/JSONL file, or a Hub dataset column (cached once fetched)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from aas_dataset.spec.recipe import Captions, RecipeError
from aas_dataset.util import digest, write_json_atomic


def _read_file(path: Path, column: str | None) -> list[str]:
    if not path.is_file():
        raise RecipeError(f"captions.file: {path} not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8") from None
    if path.suffix != ".jsonl":
        return [ln.strip() for ln in lines if ln.strip()]
    if not column:
        raise RecipeError(f"captions.column: required for the JSONL file {path}")
    out = []
    for n, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        try:
            row = json.loads(ln)
        except json.JSONDecodeError as e:
            raise RecipeError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        value = row.get(column) if isinstance(row, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise RecipeError(f"{path}:{n}: column {column!r} is missing or not a non-empty string")
        out.append(value.strip())
    return out


def _read_hub(spec: Captions, cache_dir: Path) -> list[str]:
    hub = spec.hub
    assert hub is not None
    cache = cache_dir / f"{digest(hub.model_dump())}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    from datasets import load_dataset

    # Streaming + one column: caption datasets often carry images we do not need.
    try:
        ds = load_dataset(hub.id, split=hub.split, revision=hub.revision, streaming=True)
    except (OSError, ValueError) as e:  # not found, offline, unreachable, no such split
        raise RecipeError(f"captions.hub: cannot load {hub.id!r}: {str(e).splitlines()[0]}") from None
    names = ds.column_names or list(ds.features or [])
    if hub.column not in names:
        raise RecipeError(f"captions.hub.column: {hub.id} has no column {hub.column!r} (has {', '.join(names)})")
    rows = ds.select_columns([hub.column])
    if hub.limit is not None:
        rows = rows.take(hub.limit)
    texts = [str(row[hub.column]).strip() for row in rows]
    write_json_atomic(cache, texts)
    return texts


def hub_cached(spec: Captions, cache_dir: Path) -> bool:
    return spec.hub is None or (cache_dir / f"{digest(spec.hub.model_dump())}.json").is_file()


def resolve_captions(spec: Captions, base_dir: Path, cache_dir: Path) -> list[str]:
    if spec.inline is not None:
        texts = [t.strip() for t in spec.inline]
        for i, t in enumerate(texts):
            if not t:
                raise RecipeError(f"captions.inline.{i}: empty caption")
    elif spec.file is not None:
        texts = _read_file((base_dir / spec.file), spec.column)
    else:
        texts = _read_hub(spec, cache_dir)
    if not texts:  # as an empty inline list is refused by the recipe model
        source = f"the file {base_dir / spec.file}" if spec.file is not None else f"the Hub dataset {spec.hub.id}"
        raise RecipeError(f"captions: {source} holds no captions")
    if spec.count is not None:
        if spec.count > len(texts):
            raise RecipeError(f"captions.count: {spec.count} requested, only {len(texts)} available")
        picks = sorted(random.Random(spec.seed).sample(range(len(texts)), spec.count))
        texts = [texts[i] for i in picks]
    return texts
