"""The paper's recipes: what they run, what they differ in, and the tables they give.

`builders/paper_tiny.yaml` is the paper recipe's shape on tiny weights, offline: its report must
have every table and column the report of the published data has, every paper column filled.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from aas_dataset.analysis.metrics.core import Cell
from aas_dataset.analysis.report import build_report
from aas_dataset.catalog import differences, resolve
from aas_dataset.catalog.recipes import load_recipe
from aas_dataset.cli import app

from .helpers import ROOT

runner = CliRunner()
PAPER_SCORERS = {"hps_v1", "hpsv2_1", "hpsv3", "image_reward", "pickscore", "mps", "clip_l", "blip_itm_large"}
# the generator table's paper columns, under our column names
PAPER_GENERATOR_COLUMNS = (
    "Δ hpsv2_1",
    "Δ hpsv3",
    "hpsv3 AA",
    "Δ image_reward",
    "ΔJ rater_j",
    "J AA rater_j",
    "blip_itm_large match",
    "success",
)


def _filled(cell) -> bool:
    return isinstance(cell, Cell) and not math.isnan(cell.value)


@pytest.mark.slow
def test_paper_tiny_fills_every_paper_table_like_the_published_data(tmp_path, published, authors_dir):
    out = tmp_path / "paper_tiny"
    res = runner.invoke(app, ["build", str(ROOT / "builders" / "paper_tiny.yaml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    tiny = {t.name: t for t in build_report(out, tmp_path / "r1", n_boot=50).tables}

    src, _ = published
    imported = tmp_path / "imported"
    res = runner.invoke(app, ["import-hf", str(src), "--out", str(imported), "--official-dir", str(authors_dir)])
    assert res.exit_code == 0, res.output
    paper = {t.name: t for t in build_report(imported, tmp_path / "r2", n_boot=50).tables}

    expected = {"generators", "reward_models", "judge_agreement", "aligned_vs_base", "judge_reward_correlation"}
    expected |= {"success_by_dimension", "shift_by_dimension", "j_by_dimension_rater_j"}
    assert set(tiny) == set(paper) == expected
    for name, t in paper.items():
        missing = [c for c in t.columns if c not in tiny[name].columns]
        assert not missing, (name, missing)  # the published data has no scorer the paper recipe lacks

    for row in tiny["generators"].rows:
        assert all(_filled(row.get(c)) for c in PAPER_GENERATOR_COLUMNS), row["model"]
    rm = {r["model"]: r for r in tiny["reward_models"].rows}
    assert PAPER_SCORERS | {"image_stats_dullness"} == set(rm)  # eight scorers and the verifier
    for name in PAPER_SCORERS:
        assert all(_filled(rm[name][c]) for c in ("accuracy", "F1", "AUROC")), name
    assert _filled(rm["image_stats_dullness"]["accuracy"]) and rm["image_stats_dullness"]["AUROC"] is None
    tests = {(r["test"], r["metric"]): r for r in tiny["aligned_vs_base"].rows}
    for key in (
        ("Wilcoxon", "hpsv3 r(I_a,p_o)"),
        ("Wilcoxon", "ΣJ rater_j(I_a)"),
        ("McNemar", "success (image_stats)"),
    ):
        assert 0 <= tests[key]["p"] <= 1, key  # the paper's columns: HPSv3 p and r, J p and r, McNemar p
    assert _filled(tests[("Wilcoxon", "hpsv3 r(I_a,p_o)")]["r"])

    card = (out / "README.md").read_text()
    assert "Differences from the paper's runs" in card
    assert "tiny random weights in place of the released ones" in card
    assert "ours (tiny stand-in)" in card  # HPSv3, MPS and J read stand-in texts here


def test_the_paper_recipe_scores_with_every_paper_scorer_and_lists_its_differences():
    from aas_dataset.release.card import card_info

    rr = load_recipe(ROOT / "builders" / "aas_benchmark.yaml")
    assert {s.name for s in rr.scorers} == PAPER_SCORERS | {"rater_j"}
    assert [j.name for j in rr.pairwise_judges] == [
        "qwen3_vl_235b_deepinfra",
        "gpt5_chat_openrouter",
        "glm45v_openrouter",
    ]
    assert rr.ground_truth == "qwen3_vl_235b_deepinfra"
    info = card_info(rr, {}, [])
    rows = {f["name"]: f for f in info["fidelity"] if f["role"] != "negative writer"}
    # the authors' instruction, with its source and hash, for every judge and the rewriter
    for judge in ("qwen3_vl_235b_deepinfra", "gpt5_chat_openrouter", "glm45v_openrouter"):
        assert "weathon/AAS@51fa409:rater_training/llm_select.py (b89577024bf10601)" in rows[judge]["texts"]
    assert "weathon/AAS@51fa409:prompts.json" in rows["qwen3_vl_235b_openrouter"]["texts"]
    assert "512²" in rows["stable_diffusion_3_5_medium"]["differences"]
    assert "own recorded seed" in rows["flux_dev"]["differences"]
    assert "seeded coin flip" in rows["qwen3_vl_235b_deepinfra"]["differences"]
    assert info["paper_differences"] and "rewritten anew" in info["paper_differences"][0]
    post = load_recipe(ROOT / "builders" / "post_paper.yaml")
    assert "hpsv3" in {s.name for s in post.scorers}


def test_aas_models_shows_the_differences_from_the_authors_runs():
    res = runner.invoke(app, ["models", "--role", "generator", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["stable_diffusion_3_5_medium"]["paper_run"] == "paper"
    assert any("512²" in d for d in rows["stable_diffusion_3_5_medium"]["differences"])
    assert rows["tiny_sd"]["differences"] == ["not a model of the authors' runs"]
    res = runner.invoke(app, ["models", "--role", "judge", "--json"])
    judges = {r["name"]: r for r in json.loads(res.output)}
    assert judges["qwen3_vl_235b_deepinfra"]["texts"][1]["source"] == "weathon/AAS@51fa409:rater_training/llm_select.py"
    assert judges["local_llm_judge"]["texts"][0]["source"] == "ours"
    assert any("ours" in d for d in differences(resolve("judge", "qwen3_vl_235b_deepinfra", {"texts": "ours"})))


@pytest.mark.parametrize(
    "name,setting,value",
    [
        # each matched to the authors' generation code (weathon/AAS benchmark.py, Oct 2025)
        ("playground", "negative_distorted", ""),
        ("playground", "negative_original", None),
        ("stable_diffusion_3_5_large", "dtype", "float16"),
        ("flux_schnell", "dtype", "float16"),
        ("flux_schnell", "guidance", 3.5),
        ("flux_schnell", "call_kwargs", {}),
        ("qwen_image_replicate", "negative_original", None),
        ("qwen_image_replicate", "negative_distorted", ""),
        ("dance_flux_nag", "guidance", 0.0),
        ("flux_krea_nag", "guidance", 0.0),
        ("nano-banana", "aspect_ratio", None),
        ("nano-banana", "modalities", None),
        ("nano-banana", "texts", "official"),
    ],
)
def test_generator_settings_follow_the_authors_code(name, setting, value):
    assert getattr(resolve("generator", name).settings, setting) == value


def test_stand_in_texts_are_for_tiny_weights_only():
    from aas_dataset.catalog import CatalogError

    for scorer in ("hpsv3", "mps", "rater_j"):
        with pytest.raises(CatalogError, match="needs tiny: true"):
            resolve("scorer", scorer, {"texts": "ours"})
        assert resolve("scorer", scorer, {"texts": "ours", "tiny": True}).spec["texts"][0]["source"].startswith("ours")
