from __future__ import annotations

import pyarrow as pa
import pytest
from datasets import Features

from aas_dataset.spec import schema, taxonomy


def test_eleven_dimensions_in_alphabetical_order():
    assert len(taxonomy.DIMENSION_KEYS) == 11
    assert list(taxonomy.DIMENSION_KEYS) == sorted(taxonomy.DIMENSION_KEYS)
    assert taxonomy.DIMENSION_KEYS[0] == "background" and taxonomy.DIMENSION_KEYS[-1] == "richness"
    assert all(d.anti_pole and d.phrase for d in taxonomy.DIMENSIONS)


def test_ava_taxonomy_and_emotions():
    assert len(taxonomy.AVA_CLASSES) == 5
    assert sum(len(v) for v in taxonomy.AVA_CLASSES.values()) == 28
    assert taxonomy.EMOTIONS == ("happy", "sad", "angry", "fearful")


def test_unknown_dimension_names_the_key():
    with pytest.raises(KeyError, match="sharpnes"):
        taxonomy.dimension("sharpnes")


@pytest.mark.parametrize("config", schema.CONFIGS)
def test_feature_json_matches_datasets(config):
    cols = schema.config_columns(config, ["score_clip", "score_stats_brightness"], ["judge_a"])
    ours = schema.features_dict(cols)
    assert Features.from_dict(ours).to_dict() == ours
    # the Arrow schema the writer uses is the one datasets derives from the features
    assert schema.arrow_schema(cols).remove_metadata().equals(Features.from_dict(ours).arrow_schema.remove_metadata())


def test_scores_is_pairs_without_images():
    pairs = [c.name for c in schema.config_columns("pairs")]
    scores = [c.name for c in schema.config_columns("scores")]
    assert scores == [c for c in pairs if not c.startswith("image_")]


def _prompts_table(**overrides):
    row = {
        "index": 3,
        "prompt_original": "a cat",
        "prompt_distorted": "a dark cat",
        "selected_dims": ["clarity"],
        "effects": "x",
        "rewriter": "template",
    }
    row.update(overrides)
    return pa.Table.from_pylist([row, row], schema=schema.arrow_schema(schema.config_columns("prompts")))


def test_validate_names_file_row_and_column():
    schema.validate_table(_prompts_table(), "prompts", "f.parquet")
    bad = _prompts_table(selected_dims=["clarity", "shininess"])
    with pytest.raises(
        schema.SchemaError, match=r"f\.parquet: row 10, column 'selected_dims': unknown dimension 'shininess'"
    ):
        schema.validate_table(bad, "prompts", "f.parquet", row_offset=10)
    with pytest.raises(schema.SchemaError, match="prompt_distorted.*empty"):
        schema.validate_table(_prompts_table(prompt_distorted=""), "prompts", "f.parquet")


def test_validate_rejects_wrong_types_and_missing_columns():
    t = _prompts_table().drop_columns(["effects"])
    with pytest.raises(schema.SchemaError, match="missing column.*effects"):
        schema.validate_table(t, "prompts", "p.parquet")
    t = _prompts_table().set_column(0, "index", pa.array(["3", "3"]))
    with pytest.raises(schema.SchemaError, match="'index' has type string, expected int64"):
        schema.validate_table(t, "prompts", "p.parquet")
    cols = schema.config_columns("scores", judges=["j"])
    empty = pa.Table.from_pylist([], schema=schema.arrow_schema(cols))
    schema.validate_table(empty, "scores", "empty.parquet")  # a config with no rows is valid
    assert empty.column_names == [c.name for c in cols]


def test_label_values_are_checked():
    cols = schema.config_columns("scores", judges=["j"])
    row = {c.name: None for c in cols}
    row.update(model="m", index=0, prompt_original="a", prompt_distorted="b", selected_dims=[], label_j=2)
    t = pa.Table.from_pylist([row], schema=schema.arrow_schema(cols))
    with pytest.raises(schema.SchemaError, match="label_j.*-1, 0, 1 or null, got 2"):
        schema.validate_table(t, "scores", "s.parquet")


def test_extra_families_match_datasets_and_round_trip():
    extra = (*schema.rater_columns("j"), schema.Column("judge100_gemini", "judge100", ""))
    cols = schema.config_columns("scores", ["score_hpsv3"], ["qwen"], extra=extra)
    ours = schema.features_dict(cols)
    assert Features.from_dict(ours).to_dict() == ours
    t = pa.Table.from_pylist([], schema=schema.arrow_schema(cols))
    assert [c.kind for c in schema.columns_from_arrow(t.schema, "scores", "x")][-3:] == [
        "dimvec",
        "dimpred",
        "judge100",
    ]
    emo = schema.config_columns("emotion_bias", ["score_hpsv3"])
    assert Features.from_dict(schema.features_dict(emo)).to_dict() == schema.features_dict(emo)
    with pytest.raises(schema.SchemaError, match="not a declared family"):
        schema.config_columns("scores", extra=[schema.Column("weird", "float64", "")])
