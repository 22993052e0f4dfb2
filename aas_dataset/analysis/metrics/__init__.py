"""Metrics: the paper's tables as plain functions over a release's `scores` table."""

from aas_dataset.analysis.metrics.core import Cell, Table, bootstrap_cell, read_frame
from aas_dataset.analysis.metrics.stats import comparison_table, mcnemar_less, wilcoxon_r
from aas_dataset.analysis.metrics.tables import (
    classification_table,
    dimension_table,
    emotion_bias_table,
    emotion_generation_table,
    generator_table,
    j_by_dimension_table,
    judge_agreement_table,
    lapis_relative_score,
    real_photo_bias_table,
    shift_by_dimension_table,
)

__all__ = [
    "Cell",
    "Table",
    "bootstrap_cell",
    "read_frame",
    "generator_table",
    "classification_table",
    "dimension_table",
    "shift_by_dimension_table",
    "j_by_dimension_table",
    "emotion_bias_table",
    "emotion_generation_table",
    "real_photo_bias_table",
    "lapis_relative_score",
    "comparison_table",
    "judge_agreement_table",
    "wilcoxon_r",
    "mcnemar_less",
]
