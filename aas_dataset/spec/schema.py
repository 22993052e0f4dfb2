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
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from aas_dataset.spec.taxonomy import BY_KEY

CONFIGS = ("prompts", "pairs", "scores")  # what a build writes
REFERENCE_CONFIGS = ("real_photos", "artworks")  # real images, built or imported
ALL_CONFIGS = (
    *CONFIGS,
    "emotion_bias",
    "img2img",
    "emotion_generation",
    *REFERENCE_CONFIGS,
)  # + what imports and side studies write
SPLIT = "test"
# r(I, p) for (I_o, p_o), (I_o, p_a), (I_a, p_o), (I_a, p_a), in this order everywhere.
COMBOS = ("oiop", "oidp", "diop", "didp")
LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED = -1, 0, 1
NEGATIVE_EMOTIONS = ("sad", "angry", "fearful")
# score of the edited face under the prompt filled with e, and of the happy face under it
EMOTION_FIELDS = tuple(f for e in NEGATIVE_EMOTIONS for f in (e, f"{e}_happy"))
JUDGE100_FIELDS = tuple(
    (f"{v}_{k}", t)
    for v in ("original", "distorted")
    for k, t in (("main_concepts", "int64"), ("special_effects", "int64"), ("reasoning", "string"))
)
# an artwork's score under its own caption and under another artwork's (the BLIP sanity check)
ARTSCORE_FIELDS = ("caption", "shuffled")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")


class SchemaError(ValueError):
    """Data does not match the declared schema; the message names the file, row and column."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # string | int64 | float64 | image | list<string> | score | dimvec | dimpred | judge100 | emotion
    doc: str


_FIXED: dict[str, tuple[Column, ...]] = {
    "prompts": (
        Column("index", "int64", "prompt index (stable across models)"),
        Column("prompt_original", "string", "p_o: the original caption"),
        Column("prompt_distorted", "string", "p_a: the anti-aesthetic rewrite of p_o"),
        Column("selected_dims", "list<string>", "dimension keys p_a was asked to carry"),
        Column("effects", "string", "the anti-pole descriptions given to the rewriter"),
        Column("rewriter", "string", "catalog name of the rewriter"),
        Column("negative_prompt", "string", "<= 5-word negative prompt for guidance-based mitigations (null: none)"),
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
_FIXED["emotion_bias"] = (
    Column("index", "int64", "row index"),
    Column("prompt", "string", "caption with an [emotion] placeholder"),
    *(Column(f"image_{e}", "image", f"the {e} face") for e in ("happy", *NEGATIVE_EMOTIONS)),
)

_FIXED["real_photos"] = (
    Column("index", "int64", "position of the file in the source folder (name order)"),
    Column("file_name", "string", "path of the photograph inside its source folder"),
    Column("sha256", "string", "SHA-256 of the source file"),
    Column("image", "image", "the photograph as it entered (own bytes; converted ones as PNG; null: metadata-only)"),
    Column("human_score", "float64", "AVA mean vote (1-10), null when unknown"),
    Column("vote_count", "int64", "AVA number of votes"),
    Column("conversions", "list<string>", "what ingest changed: EXIF orientation, mode conversions"),
    Column("retrieved_as", "list<string>", "class.sub_class tags whose retrieval commits kept the photo"),
    Column("similarity", "float64", "the highest query cosine among those commits"),
    Column(
        "commit_ids", "list<string>", "the retrieval commits that kept the photo (class.sub_class#n; imported: theirs)"
    ),
    Column("queries", "list<string>", "the retrieval queries that kept the photo"),
    Column("messages", "list<string>", "those commits' descriptions"),
    Column("status", "string", "accepted | rejected (by the curator) | imported"),
    Column("reason", "string", "why the curator rejected the photo"),
    Column("elements", "list<string>", "the curator's anti-aesthetic elements, class.sub_class, at most one per class"),
    Column("clean_caption", "string", "the content without any style (< 5 words), rendered as the twin"),
    Column("anti_aesthetic_caption", "string", "content and anti-aesthetic elements (2-3 sentences)"),
    Column("curator", "string", "catalog name of the curation VLM"),
    Column("twin_image", "image", "the clean twin: the twin generator's image of the clean caption (lossless PNG)"),
    Column("twin_generator", "string", "catalog name of the twin generator"),
    Column("twin_seed", "int64", "seed of the twin's torch.Generator"),
)
_FIXED["artworks"] = (
    Column("index", "int64", "position of the file in the source folder (name order)"),
    Column("file_name", "string", "path of the artwork inside its source folder"),
    Column("sha256", "string", "SHA-256 of the source file"),
    Column("image", "image", "the artwork as it entered (null: metadata-only)"),
    Column("metadata", "string", "JSON of the source's metadata row for this file"),
    Column("conversions", "list<string>", "what ingest changed: EXIF orientation, mode conversions"),
    Column("caption", "string", "the captioner's description of the artwork"),
    Column("captioner", "string", "catalog name of the captioning VLM"),
)

_FIXED["img2img"] = (
    Column("model", "string", "catalog name of the image-to-image model (the editor)"),
    Column("source_model", "string", "the generator of the input image in the source release"),
    Column("index", "int64", "prompt index in the source release"),
    Column("prompt_original", "string", "p_o"),
    Column("prompt_distorted", "string", "p_a: what the editor was given"),
    Column("selected_dims", "list<string>", "dimension keys of p_a"),
    Column("image_input", "image", "the source release's I_a (I_o of the score structs)"),
    Column("image_edited", "image", "the editor's image from the input and p_a (I_a of the score structs)"),
    Column("strength", "float64", "how far the edit may move from the input"),
    Column("seed", "int64", "seed of the edit's torch.Generator (null: an image API)"),
)

_FIXED["emotion_generation"] = (
    Column("model", "string", "generator catalog name"),
    Column("template", "int64", "index of the template"),
    Column("emotion", "string", "the emotion filled in: happy, sad, angry or fearful"),
    Column("prompt", "string", "the template filled with the emotion"),
    Column("seed", "int64", "seed of the image's torch.Generator (one for every image, as the authors)"),
    Column("image", "image", "the generated image (lossless PNG)"),
    Column("face", "string", "found | no face (nothing the detector scored at its threshold)"),
    Column("face_box", "list<float64>", "the face's box [x0, y0, x1, y1] in pixels"),
    Column("face_score", "float64", "the detector's score of that box"),
    Column("face_image", "image", "the crop that was scored"),
    Column("detector", "string", "catalog name of the detector"),
    Column("caption", "string", "what the crop was scored against"),
)

# Optional column families: (config group, prefix, suffix, kind). First match wins.
_FAMILIES = (
    ("pairs", "score_", "", "score"),
    ("pairs", "label_", "", "int64"),
    ("pairs", "rater_", "_pred", "dimpred"),
    ("pairs", "rater_", "", "dimvec"),
    ("pairs", "judge100_", "", "judge100"),
    ("emotion_bias", "score_", "", "emotion"),
    ("real_photos", "score_", "", "score"),
    ("img2img", "score_", "", "score"),
    ("emotion_generation", "score_", "", "float64"),
    ("img2img", "rater_", "_pred", "dimpred"),
    ("img2img", "rater_", "", "dimvec"),
    ("artworks", "score_", "", "artscore"),
)


# The order of the optional column families in a pairs / scores row, whatever stage adds them.
_FAMILY_ORDER = ("label_", "score_", "judge100_", "rater_")


def family_rank(name: str) -> int:
    """A column's place among the optional families (stable sort keeps the recipe's order within)."""
    return next((i for i, prefix in enumerate(_FAMILY_ORDER) if name.startswith(prefix)), len(_FAMILY_ORDER))


def _family_kind(config: str, name: str) -> str | None:
    group = "pairs" if config in ("pairs", "scores") else config
    for g, prefix, suffix, kind in _FAMILIES:
        if g == group and name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
            return kind
    return None


def rater_columns(rater: str) -> tuple[Column, Column]:
    """Per-dimension judge J: expected scores in [0, 2] and predicted classes, 11 per image."""
    return (
        Column(f"rater_{rater}", "dimvec", f"J({rater}) expected score per dimension, alphabetical order"),
        Column(f"rater_{rater}_pred", "dimpred", f"J({rater}) predicted class per dimension"),
    )


def fixed_columns(config: str) -> tuple[Column, ...]:
    if config not in _FIXED:
        raise SchemaError(f"unknown config {config!r}; known: {', '.join(ALL_CONFIGS)}")
    return _FIXED[config]


def score_column(scorer: str, output: str | None = None) -> str:
    return f"score_{scorer}" if not output else f"score_{scorer}_{output}"


def label_column(judge: str) -> str:
    return f"label_{judge}"


def config_columns(
    config: str, score_columns: Sequence[str] = (), judges: Sequence[str] = (), extra: Sequence[Column] = ()
) -> tuple[Column, ...]:
    """All columns of a config for these score columns, judges and extra family columns."""
    cols = list(fixed_columns(config))
    if config in ("pairs", "scores"):
        cols += [Column(label_column(j), "int64", f"label of judge {j}") for j in judges]
        cols += [Column(s, "score", "reward r(I, p) for the four combinations") for s in score_columns]
    if config == "emotion_bias":
        cols += [Column(s, "emotion", "r(edited face) and r(happy face) per emotion") for s in score_columns]
    cols += list(extra)
    for c in cols:
        if config != "prompts" and c not in fixed_columns(config) and _family_kind(config, c.name) != c.kind:
            raise SchemaError(f"column {c.name!r} of kind {c.kind} is not a declared family of config {config!r}")
        if not NAME_RE.match(c.name):
            raise SchemaError(f"column name {c.name!r} must match {NAME_RE.pattern}")
    return tuple(cols)


# --- one type declaration, three renderings (Arrow, HF features JSON, datasets.Features) ---


_SCALARS = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64()}


def _arrow_type(kind: str) -> pa.DataType:
    if kind in _SCALARS:
        return _SCALARS[kind]
    return {
        "image": pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        "list<string>": pa.list_(pa.string()),
        "list<float64>": pa.list_(pa.float64()),
        "score": pa.struct([(c, pa.float64()) for c in COMBOS]),
        "dimvec": pa.struct([(v, pa.list_(pa.float64())) for v in ("original", "distorted")]),
        "dimpred": pa.struct([(v, pa.list_(pa.int64())) for v in ("original", "distorted")]),
        "judge100": pa.struct([(n, _SCALARS[t]) for n, t in JUDGE100_FIELDS]),
        "emotion": pa.struct([(f, pa.float64()) for f in EMOTION_FIELDS]),
        "artscore": pa.struct([(f, pa.float64()) for f in ARTSCORE_FIELDS]),
    }[kind]


def _feature_json(kind: str) -> dict:
    if kind in ("string", "int64", "float64"):
        return {"dtype": kind, "_type": "Value"}
    if kind == "image":
        return {"_type": "Image"}
    if kind in ("list<string>", "list<float64>"):
        return {"feature": {"dtype": kind[5:-1], "_type": "Value"}, "_type": "List"}
    if kind == "score":
        return {c: {"dtype": "float64", "_type": "Value"} for c in COMBOS}
    if kind in ("dimvec", "dimpred"):
        item = {"dtype": "float64" if kind == "dimvec" else "int64", "_type": "Value"}
        return {v: {"feature": item, "_type": "List"} for v in ("original", "distorted")}
    if kind == "judge100":
        return {n: _feature_json(t) for n, t in JUDGE100_FIELDS}
    if kind == "emotion":
        return {f: {"dtype": "float64", "_type": "Value"} for f in EMOTION_FIELDS}
    if kind == "artscore":
        return {f: {"dtype": "float64", "_type": "Value"} for f in ARTSCORE_FIELDS}
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
        elif kind := _family_kind(config, field.name):
            col = Column(field.name, kind, "")
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
    # Image columns are checked in Arrow (their lengths), never copied into Python objects.
    data = {n: table.column(n).to_pylist() for n in table.column_names if not n.startswith("image_")}
    for name in (n for n in table.column_names if n.startswith("image_")):
        lengths = pc.binary_length(pc.struct_field(table.column(name), "bytes")).to_pylist()
        for i, n in enumerate(lengths):
            if not n:
                raise SchemaError(f"{where}: row {row_offset + i}, column {name!r}: image bytes are missing")

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
        elif name.startswith("prompt_"):
            for i, v in enumerate(values):
                if not v:
                    fail(i, name, "prompt is empty")


# --- row values, checked before any conversion ---------------------------------------------
# Arrow converts silently (1.5 into an int64 column is 1, True is 1, NaN is a float); a release
# must hold exactly what its source said, so every value is checked against its column's kind
# first and a mismatch is an error naming the place, the column and the value.


def _show(v: object) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _number_problem(v: object, integer: bool) -> str | None:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral if integer else numbers.Real):
        return f"expected {'an integer' if integer else 'a number'}, got {_show(v)}"
    if not integer and not math.isfinite(v):
        return f"expected a finite number, got {v!r} (a missing value is null)"
    return None


def _fields_problem(v: object, kinds: dict[str, str]) -> str | None:
    if not isinstance(v, dict):
        return f"expected a struct with fields {', '.join(kinds)}, got {_show(v)}"
    if unknown := sorted(set(v) - set(kinds)):
        return f"unknown field(s) {', '.join(map(str, unknown))}; expected {', '.join(kinds)}"
    for name, kind in kinds.items():
        if (sub := v.get(name)) is not None and (problem := value_problem(kind, sub)):
            return f"field {name!r}: {problem}"
    return None


def _list_problem(v: object, item: str) -> str | None:
    if not isinstance(v, list | tuple):
        return f"expected a list, got {_show(v)}"
    for i, x in enumerate(v):
        if x is None or (problem := value_problem(item, x)):
            return f"item {i}: {problem or 'null'}"
    return None


_STRUCTS = {
    "score": {c: "float64" for c in COMBOS},
    "dimvec": {v: "list<float64>" for v in ("original", "distorted")},
    "dimpred": {v: "list<int64>" for v in ("original", "distorted")},
    "judge100": dict(JUDGE100_FIELDS),
    "emotion": {f: "float64" for f in EMOTION_FIELDS},
    "artscore": {f: "float64" for f in ARTSCORE_FIELDS},
}


def value_problem(kind: str, v: object) -> str | None:
    """Why `v` (not null) is not a value of `kind`, or None. No conversion is ever applied."""
    if kind == "string":
        return None if isinstance(v, str) else f"expected a string, got {_show(v)}"
    if kind in ("int64", "float64"):
        return _number_problem(v, integer=kind == "int64")
    if kind.startswith("list<"):
        return _list_problem(v, kind[len("list<") : -1])
    if kind == "image":
        if not isinstance(v, dict) or set(v) - {"bytes", "path"}:
            return f"expected an image struct {{bytes, path}}, got {_show(v)}"
        if not isinstance(v.get("bytes"), bytes) or not v["bytes"]:
            return "image bytes are missing"
        return None
    if kind in _STRUCTS:
        return _fields_problem(v, _STRUCTS[kind])
    raise SchemaError(f"unknown column kind {kind!r}")


def check_row(columns: Sequence[Column], row: dict, where: str, sources: dict[str, str] | None = None) -> None:
    """Every value of `row` is null or exactly of its column's kind; labels are -1, 0, 1.
    `sources`: the column of an outside file each of ours was read from, named in errors."""
    if unknown := sorted(set(row) - {c.name for c in columns}):
        raise SchemaError(f"{where}: unexpected column(s) {', '.join(unknown)}")
    for c in columns:
        v = row.get(c.name)
        if v is None:
            continue
        problem = value_problem(c.kind, v)
        if not problem and c.name.startswith("label_") and v not in (LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED):
            problem = f"a label is -1, 0, 1 or null, got {v!r}"
        if problem:
            source = (sources or {}).get(c.name, c.name)
            shown = repr(source) if source == c.name else f"{source!r} (our {c.name!r})"
            raise SchemaError(f"{where}, column {shown}: {problem}")
