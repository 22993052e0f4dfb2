"""The one declaration of every config's columns.

From `config_schema(...)` come the Arrow schema the Parquet writer uses (with the Hugging Face
feature metadata embedded, so `datasets` decodes images), the `datasets.Features` the card's
`dataset_info` is rendered from, and `validate_table`, which checks data on load and import.

Fixed columns are declared in `_COLUMNS`. Two families depend on the recipe: one score
column per scorer output (`score_<scorer>[_<output>]`, a struct of the four image/prompt
combinations) and one label column per judge (`label_<judge>`: 0 = original image,
1 = anti-aesthetic image, -1 = tie, null = no label).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from .taxonomy import BY_KEY

CONFIGS = ("prompts", "pairs", "scores")
SPLIT = "test"
# r(I, p) for (I_o, p_o), (I_o, p_a), (I_a, p_o), (I_a, p_a), in this order everywhere.
COMBOS = ("oiop", "oidp", "diop", "didp")
LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED = -1, 0, 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class SchemaError(ValueError):
    """Data does not match the declared schema; the message names the file, row and column."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # string | int64 | float64 | image | list<string> | score
    doc: str


_FIXED: dict[str, tuple[Column, ...]] = {
    "prompts": (
        Column("index", "int64", "prompt index (stable across models)"),
        Column("prompt_original", "string", "p_o: the original caption"),
        Column("prompt_distorted", "string", "p_a: the anti-aesthetic rewrite of p_o"),
        Column("selected_dims", "list<string>", "dimension keys p_a was asked to carry"),
        Column("effects", "string", "the anti-pole descriptions given to the rewriter"),
        Column("rewriter", "string", "catalog name of the rewriter"),
    ),
    "pairs": (
        Column("model", "string", "generator catalog name"),
        Column("index", "int64", "prompt index"),
        Column("prompt_original", "string", "p_o"),
        Column("prompt_distorted", "string", "p_a"),
        Column("selected_dims", "list<string>", "dimension keys of p_a"),
        Column("image_original", "image", "I_o, generated from p_o (lossless PNG)"),
        Column("image_distorted", "image", "I_a, generated from p_a (lossless PNG)"),
        Column("seed_original", "int64", "seed of I_o's torch.Generator"),
        Column("seed_distorted", "int64", "seed of I_a's torch.Generator"),
        Column("generator_kind", "string", "backend kind"),
        Column("generator_id", "string", "model id the weights came from"),
        Column("generator_revision", "string", "model revision"),
        Column("generator_settings", "string", "JSON of every generation setting"),
    ),
}
_FIXED["scores"] = tuple(c for c in _FIXED["pairs"] if c.kind != "image")


def fixed_columns(config: str) -> tuple[Column, ...]:
    if config not in _FIXED:
        raise SchemaError(f"unknown config {config!r}; known: {', '.join(CONFIGS)}")
    return _FIXED[config]


def score_column(scorer: str, output: str | None = None) -> str:
    return f"score_{scorer}" if not output else f"score_{scorer}_{output}"


def label_column(judge: str) -> str:
    return f"label_{judge}"


def config_columns(config: str, score_columns: Sequence[str] = (), judges: Sequence[str] = ()) -> tuple[Column, ...]:
    """All columns of a config for a recipe with these score columns and judges."""
    cols = list(fixed_columns(config))
    if config in ("pairs", "scores"):
        cols += [Column(label_column(j), "int64", f"label of judge {j}") for j in judges]
        cols += [Column(s, "score", "reward r(I, p) for the four combinations") for s in score_columns]
    for c in cols:
        if not NAME_RE.match(c.name):
            raise SchemaError(f"column name {c.name!r} must match {NAME_RE.pattern}")
    return tuple(cols)


# --- one type declaration, three renderings (Arrow, HF features JSON, datasets.Features) ---


def _arrow_type(kind: str) -> pa.DataType:
    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "image": pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        "list<string>": pa.list_(pa.string()),
        "score": pa.struct([(c, pa.float64()) for c in COMBOS]),
    }[kind]


def _feature_json(kind: str) -> dict:
    if kind in ("string", "int64", "float64"):
        return {"dtype": kind, "_type": "Value"}
    if kind == "image":
        return {"_type": "Image"}
    if kind == "list<string>":
        return {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"}
    if kind == "score":
        return {c: {"dtype": "float64", "_type": "Value"} for c in COMBOS}
    raise SchemaError(f"unknown column kind {kind!r}")


def features_dict(columns: Iterable[Column]) -> dict:
    """The `datasets.Features.to_dict()` form, built without importing `datasets`."""
    return {c.name: _feature_json(c.kind) for c in columns}


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    meta = {"huggingface": json.dumps({"info": {"features": features_dict(columns)}})}
    return pa.schema([pa.field(c.name, _arrow_type(c.kind)) for c in columns], metadata=meta)


def hf_features(columns: Sequence[Column]):
    from datasets import Features

    return Features.from_dict(features_dict(columns))


# --- validation -------------------------------------------------------------------------


def columns_from_arrow(schema: pa.Schema, config: str, where: str) -> tuple[Column, ...]:
    """Recover a config's declared columns from a file's schema, checking every type."""
    fixed = {c.name: c for c in fixed_columns(config)}
    out: list[Column] = []
    for field in schema:
        if field.name in fixed:
            col = fixed[field.name]
        elif config != "prompts" and field.name.startswith("score_"):
            col = Column(field.name, "score", "")
        elif config != "prompts" and field.name.startswith("label_"):
            col = Column(field.name, "int64", "")
        else:
            raise SchemaError(f"{where}: unexpected column {field.name!r} in config {config!r}")
        if not field.type.equals(_arrow_type(col.kind)):
            raise SchemaError(f"{where}: column {field.name!r} has type {field.type}, expected {col.kind}")
        out.append(col)
    missing = [n for n in fixed if n not in {c.name for c in out}]
    if missing:
        raise SchemaError(f"{where}: missing column(s) {', '.join(missing)} for config {config!r}")
    return tuple(out)


def validate_table(table: pa.Table, config: str, where: str, row_offset: int = 0) -> None:
    """Check types and the values a user relies on; errors name the file, row and column."""
    columns_from_arrow(table.schema, config, where)
    data = table.to_pydict() if table.num_rows else {}

    def fail(i: int, col: str, msg: str):
        raise SchemaError(f"{where}: row {row_offset + i}, column {col!r}: {msg}")

    for i, idx in enumerate(data.get("index", [])):
        if idx is None or idx < 0:
            fail(i, "index", f"must be a non-negative integer, got {idx!r}")
    for i, dims in enumerate(data.get("selected_dims", [])):
        for d in dims or []:
            if d not in BY_KEY:
                fail(i, "selected_dims", f"unknown dimension {d!r}")
    for name, values in data.items():
        if name.startswith("label_"):
            for i, v in enumerate(values):
                if v not in (None, LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED):
                    fail(i, name, f"label must be -1, 0, 1 or null, got {v!r}")
        elif name.startswith("image_"):
            for i, v in enumerate(values):
                if v is None or not v.get("bytes"):
                    fail(i, name, "image bytes are missing")
        elif name.startswith("prompt_"):
            for i, v in enumerate(values):
                if not v:
                    fail(i, name, "prompt is empty")
