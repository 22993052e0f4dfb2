"""Metric values checked against answers worked out by hand for small constructed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aas_dataset.analysis.metrics import (
    bootstrap_cell,
    classification_table,
    comparison_table,
    emotion_bias_table,
    emotion_generation_table,
    generator_table,
    lapis_relative_score,
    mcnemar_less,
    real_photo_bias_table,
    wilcoxon_r,
)


def _frame(rows):
    return pd.DataFrame(rows)


def _score(prefix, oiop, oidp, diop, didp):
    return {f"{prefix}.oiop": oiop, f"{prefix}.oidp": oidp, f"{prefix}.diop": diop, f"{prefix}.didp": didp}


def test_generator_table_by_hand():
    rows = []
    # model a: oiop 1..4, diop 0,2,2,2 -> Δ = mean(-1,0,-1,-2) = -1, AA = 1.5
    for i, (o, d, lab) in enumerate(zip([1, 2, 3, 4], [0, 2, 2, 2], [1, 0, -1, 1], strict=True)):
        rows.append(
            {
                "model": "a",
                "index": i,
                **_score("score_h", o, 0, d, 0),
                "label_gt": lab,
                "rater_j.original": [0.5] * 11,
                "rater_j.distorted": [0.5] * 10 + [1.5],
                **_score("score_blip", None, 0.0, None, 2.0),
                **_score("score_blip_neg", None, 0.0, None, 0.0),
            }
        )
    # model b: one row, no label -> success over labelled rows only = nan
    rows.append(
        {
            "model": "b",
            "index": 0,
            **_score("score_h", 5, 0, 7, 0),
            "label_gt": None,
            "rater_j.original": [0.0] * 11,
            "rater_j.distorted": [2.0] * 11,
            **_score("score_blip", None, 0.0, None, 0.0),
            **_score("score_blip_neg", None, 0.0, None, 0.0),
        }
    )
    t = generator_table(_frame(rows), "gt", n_boot=200)
    assert [r["model"] for r in t.rows] == ["a", "b"]
    assert t.cell("a", "Δ h").value == pytest.approx(-1.0)
    assert t.cell("a", "h AA").value == pytest.approx(1.5)
    assert t.cell("a", "success").value == pytest.approx(0.5)  # labels 1,0,-1,1: ties fail
    assert t.cell("a", "ΔJ j").value == pytest.approx(1.0)  # one dimension +1
    assert t.cell("a", "J AA j").value == pytest.approx(6.5)
    assert t.cell("a", "blip match").value == pytest.approx(1 / (1 + math.exp(-2)))
    assert t.cell("b", "Δ h").value == pytest.approx(2.0)
    assert t.cell("b", "J AA j").value == pytest.approx(22.0)
    assert math.isnan(t.cell("b", "success").value)
    lo, hi = t.cell("a", "Δ h").lo, t.cell("a", "Δ h").hi
    assert -2.0 <= lo <= -1.0 <= hi <= 0.0


def test_classification_table_by_hand():
    # labels 1,1,0,1,1,-1 ; diffs didp-oidp = 0.5, -0.2, 0.2, 0.1, 0.0, 9 (tie row removed)
    diffs = [0.5, -0.2, 0.2, 0.1, 0.0, 9.0]
    labels = [1, 1, 0, 1, 1, -1]
    verifier = [1, -1, 0, 1, 0, 1]  # its tie counts as "original"
    rows = [
        {"model": "m", "index": i, **_score("score_rm", 0, 1.0, 0, 1.0 + d), "label_gt": y, "label_v": v}
        for i, (d, y, v) in enumerate(zip(diffs, labels, verifier, strict=True))
    ]
    t = classification_table(_frame(rows), "gt", n_boot=100)
    rm = {r["model"]: r for r in t.rows}
    # predictions (d > 0): 1,0,1,1,0 vs y 1,1,0,1,1 -> acc 2/5; tp 2, fp 1, fn 2 -> F1 = 4/7
    assert rm["rm"]["n"] == 5
    assert rm["rm"]["accuracy"].value == pytest.approx(2 / 5)
    assert rm["rm"]["F1"].value == pytest.approx(4 / 7)
    # AUROC: positives d = .5,-.2,.1,0 vs negative .2 -> 1 of 4 pairs ranked right
    assert rm["rm"]["AUROC"].value == pytest.approx(1 / 4)
    # verifier: predictions 1,0,0,1,0 vs y 1,1,0,1,1 -> acc 3/5; tp 2 fp 0 fn 2 -> F1 2/3; no AUROC
    assert rm["v"]["kind"] == "verifier" and rm["v"]["AUROC"] is None
    assert rm["v"]["accuracy"].value == pytest.approx(3 / 5)
    assert rm["v"]["F1"].value == pytest.approx(2 / 3)
    assert "ground truth: gt" in t.title
    with pytest.raises(KeyError, match="no label column 'label_x'"):
        classification_table(_frame(rows), "x")


def test_wilcoxon_effect_size_by_hand():
    base = np.zeros(8)
    aligned = np.arange(1, 9, dtype=float)  # aligned higher on every pair
    p, r = wilcoxon_r(aligned, base)
    # W (for base - aligned) = 0; mean n(n+1)/4 = 18; var n(n+1)(2n+1)/24 = 51
    z = (0 - 18) / math.sqrt(51)
    assert r == pytest.approx(z / math.sqrt(8))
    assert p == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)))
    p2, r2 = wilcoxon_r(base, aligned)  # the other way round: no evidence
    assert p2 > 0.99 and r2 == pytest.approx(-r)


def test_mcnemar_by_hand():
    aligned = np.array([1, 0, 0, 0, 1], bool)
    base = np.array([1, 1, 1, 0, 0], bool)
    p, b, c = mcnemar_less(aligned, base)
    assert (b, c) == (2, 1)
    assert p == pytest.approx(4 / 8)  # P(X >= 2 | n = 3, 1/2)
    assert mcnemar_less(base, base)[0] == 1.0


def test_comparison_table_pairs_by_index():
    rows = []
    for i in range(6):
        rows.append({"model": "base", "index": i, **_score("score_h", 0, 0, float(i), 0), "label_gt": 1})
        rows.append(
            {
                "model": "aligned",
                "index": 5 - i,
                **_score("score_h", 0, 0, float(5 - i) + 1, 0),
                "label_gt": 0 if i < 3 else 1,
            }
        )
    t = comparison_table(_frame(rows), [("aligned", "base")], "gt", n_boot=100)
    wil = next(r for r in t.rows if r["test"] == "Wilcoxon")
    assert wil["n"] == 6 and wil["mean diff"].value == pytest.approx(1.0)
    assert wil["r"].value < 0 and wil["p"] < 0.05
    mc = next(r for r in t.rows if r["test"] == "McNemar")
    # aligned fails on indices 5,4,3 where base succeeds: b = 3, c = 0 -> p = 1/8
    assert mc["p"] == pytest.approx(1 / 8)


def test_emotion_bias_is_strict():
    df = _frame(
        [
            {
                "score_s.sad": 1.0,
                "score_s.sad_happy": 0.0,
                "score_s.angry": 1.0,
                "score_s.angry_happy": 1.0,
                "score_s.fearful": 0.0,
                "score_s.fearful_happy": 1.0,
            },
            {
                "score_s.sad": 2.0,
                "score_s.sad_happy": 3.0,
                "score_s.angry": 2.0,
                "score_s.angry_happy": 1.0,
                "score_s.fearful": 5.0,
                "score_s.fearful_happy": 1.0,
            },
        ]
    )
    t = emotion_bias_table(df, n_boot=50)
    row = t.rows[0]
    assert (row["sadness"].value, row["anger"].value, row["fear"].value) == (0.5, 0.5, 0.5)


def test_emotion_generation_real_photo_and_lapis():
    g = emotion_generation_table(
        _frame({"model": ["m", "m", "m"], "emotion": ["sad", "sad", "angry"], "score": [0.2, 0.4, 0.9]}), n_boot=50
    )
    assert g.cell("m", "sad").value == pytest.approx(0.3) and g.cell("m", "angry").value == pytest.approx(0.9)
    df = _frame({"class": ["a", "a", "b"], "clean": [3.0, 5.0, 1.0], "anti": [1.0, 1.0, 2.0]})
    t = real_photo_bias_table(df, clean="clean", anti="anti", n_boot=50)
    assert t.cell("overall", "bias").value == pytest.approx((2 + 4 - 1) / 3)
    assert t.cell("a", "bias").value == pytest.approx(3.0) and t.cell("b", "bias").value == pytest.approx(-1.0)
    assert lapis_relative_score([4.0, 6.0], r_min=0.0, r_max=10.0, n_boot=50).value == pytest.approx(0.5)
    with pytest.raises(ValueError):
        lapis_relative_score([1.0], 2.0, 2.0)


def test_bootstrap_is_seeded_and_sane():
    x = np.random.default_rng(0).normal(size=200)
    a = bootstrap_cell(lambda i: x[i].mean(), 200, n_boot=300, seed=1, key=("k",))
    b = bootstrap_cell(lambda i: x[i].mean(), 200, n_boot=300, seed=1, key=("k",))
    c = bootstrap_cell(lambda i: x[i].mean(), 200, n_boot=300, seed=2, key=("k",))
    assert (a.lo, a.hi) == (b.lo, b.hi) and (a.lo, a.hi) != (c.lo, c.hi)
    assert a.lo < x.mean() < a.hi
    assert a.hi - a.lo == pytest.approx(2 * 1.96 / math.sqrt(200), rel=0.3)
    const = bootstrap_cell(lambda i: 1.0, 10, n_boot=100)
    assert (const.value, const.lo, const.hi) == (1.0, 1.0, 1.0)


def test_each_cell_draws_its_own_resamples_whatever_else_the_table_holds():
    from aas_dataset.analysis.metrics import generator_table

    rng = np.random.default_rng(3)
    base = [_score("score_s", *rng.normal(size=4)) | {"model": "a", "index": i} for i in range(40)]
    twin = [r | {"model": "b"} for r in base]  # identical data under another model name
    both = generator_table(_frame(base + twin), None, n_boot=200)
    a, b = both.cell("a", "Δ s"), both.cell("b", "Δ s")
    assert a.value == b.value and (a.lo, a.hi) != (b.lo, b.hi)  # the cell key seeds the resamples
    alone = generator_table(_frame(base), None, n_boot=200).cell("a", "Δ s")
    assert (alone.lo, alone.hi) == (a.lo, a.hi)  # a cell does not depend on the other cells


def test_judge_agreement_by_hand():
    from aas_dataset.analysis.metrics import judge_agreement_table

    ref = [1, 1, 0, -1, 1, 0]
    oth = [1, 0, 0, 1, -1, None]
    df = _frame({"label_ref": ref, "label_o": oth})
    t = judge_agreement_table(df, "ref", n_boot=50)
    row = t.rows[0]
    # coded (orig 0, tie 1, anti 2): ref 2,2,0,1,2 vs other 2,0,0,2,1 on the 5 rows both labelled
    a, b = np.array([2, 2, 0, 1, 2]), np.array([2, 0, 0, 2, 1])
    assert row["n"] == 5
    assert row["accuracy"].value == pytest.approx(2 / 5)
    assert row["MAE"].value == pytest.approx(np.mean(np.abs(a - b)))
    # quadratic kappa by hand: 1 - sum(w*O)/sum(w*E), w = (i-j)^2 / 4
    obs = np.zeros((3, 3))
    for x, y in zip(a, b, strict=True):
        obs[x, y] += 1
    exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
    w = np.array([[(i - j) ** 2 for j in range(3)] for i in range(3)]) / 4
    assert row["quadratic κ"].value == pytest.approx(1 - (w * obs).sum() / (w * exp).sum())


def test_judge_reward_correlation_by_hand():
    from aas_dataset.analysis.metrics.studies import judge_reward_correlation_table

    # four rows: the grade rises while the reward falls (ρ = -1) on the blur rows; all rows mixed
    grades = [10, 20, 30, 40]
    rewards = [4.0, 3.0, 2.0, 5.0]
    dims = [["clarity"], ["clarity"], ["clarity", "emotion"], ["emotion"]]
    df = _frame(
        {
            "selected_dims": dims,
            "judge100_g.distorted_special_effects": grades,
            **{k: v for k, v in _score("score_s", [0.0] * 4, [0.0] * 4, [0.0] * 4, rewards).items()},
        }
    )
    t = judge_reward_correlation_table(df, "g", n_boot=50)
    assert t.cell("clarity", "n") == 3 and t.cell("clarity", "s").value == pytest.approx(-1.0)
    # all rows: ranks of grades 1,2,3,4 vs rewards 3,2,1,4 -> ρ = 1 - 6·(4+0+4+0)/(4·15) = 0.2
    assert t.cell("all rows", "s").value == pytest.approx(0.2)
    assert t.cell("all rows", "Pearson s").value == pytest.approx(np.corrcoef(grades, rewards)[0, 1])
    assert "emotion" in [r["dimension"] for r in t.rows]  # two rows: ρ undefined below 3, shown as –


def test_mitigation_table_by_hand():
    import json as _json

    from aas_dataset.analysis.metrics.studies import mitigation_table
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    vec = lambda **v: [v.get(k, 0.0) for k in DIMENSION_KEYS]  # noqa: E731
    settings = {"plain": "{}", "vsf": _json.dumps({"mitigation": {"method": "vsf", "scale": 2.0}})}
    rows = []
    for model, didp, j in (("plain", [1.0, 3.0], [2.0, 2.0]), ("vsf", [0.0, 1.0], [0.5, 1.5])):
        for i in range(2):
            rows.append(
                {
                    "model": model,
                    "generator_settings": settings[model],
                    "selected_dims": ["clarity", "emotion"],
                    **_score("score_h", 0.0, 0.0, 0.0, didp[i]),
                    **_score("score_b", 0.0, 0.0, 0.0, 0.0),
                    **_score("score_b_neg", 0.0, 0.0, 0.0, 0.0),
                    "rater_j.original": vec(),
                    "rater_j.distorted": vec(clarity=j[i], emotion=0.0, background=9.0),
                }
            )
    t = mitigation_table(_frame(rows), n_boot=50)
    assert (t.cell("vsf", "method"), t.cell("vsf", "scale"), t.cell("plain", "method")) == ("vsf", "2", "none")
    assert t.cell("plain", "h").value == pytest.approx(2.0) and t.cell("vsf", "h").value == pytest.approx(0.5)
    # J_s: mean over the selected dims (clarity, emotion; background is not selected) -> (0.5/2 + 1.5/2) / 2
    assert t.cell("vsf", "J_s j").value == pytest.approx(0.5)
    assert t.cell("vsf", "b match").value == pytest.approx(0.5)  # σ(0 - 0)


def test_success_by_dimension_by_hand():
    from aas_dataset.analysis.metrics import dimension_table

    df = _frame(
        {
            "model": ["m", "m", "m", "m"],
            "selected_dims": [["clarity"], ["clarity", "emotion"], ["emotion"], ["clarity"]],
            "label_j": [1, 0, 1, None],
        }
    )
    t = dimension_table(df, "j", n_boot=20)
    assert t.cell("m", "clarity").value == pytest.approx(0.5)  # rows 0 and 1 (row 3 unlabelled)
    assert t.cell("m", "emotion").value == pytest.approx(0.5)  # rows 1 and 2
    assert np.isnan(t.cell("m", "richness").value)  # never asked for


def test_shift_and_j_by_dimension_by_hand():
    from aas_dataset.analysis.metrics import j_by_dimension_table, shift_by_dimension_table
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    def vec(**at):
        v = [1.0] * len(DIMENSION_KEYS)
        for name, x in at.items():
            v[DIMENSION_KEYS.index(name)] = x
        return v

    df = _frame(
        {
            "model": ["m", "m", "m"],
            "selected_dims": [["clarity"], ["clarity", "emotion"], ["emotion"]],
            **{f"score_s.{c}": [0.0, 0.0, 0.0] for c in ("oidp", "didp")},
            "score_s.oiop": [1.0, 1.0, 1.0],
            "score_s.diop": [0.0, -2.0, 4.0],
            "rater_j.original": [vec(), vec(), vec()],
            "rater_j.distorted": [vec(clarity=0.0), vec(clarity=0.5, emotion=0.0), vec(emotion=2.0)],
        }
    )
    t = shift_by_dimension_table(df, n_boot=20)
    row = next(r for r in t.rows if r["model"] == "m" and r["scorer"] == "s")
    assert row["clarity"].value == pytest.approx((-1.0 + -3.0) / 2)  # rows 0 and 1
    assert row["emotion"].value == pytest.approx((-3.0 + 3.0) / 2)  # rows 1 and 2
    assert np.isnan(row["richness"].value)
    j = j_by_dimension_table(df, "j", n_boot=20)
    assert j.cell("m", "clarity").value == pytest.approx((-1.0 + -0.5) / 2)  # J's own clarity score only
    assert j.cell("m", "emotion").value == pytest.approx((-1.0 + 1.0) / 2)


def test_the_vectorised_mean_cell_equals_the_per_resample_one():
    from aas_dataset.analysis.metrics.core import bootstrap_cell, mean_cell

    v = np.random.default_rng(1).normal(size=3300)
    slow = bootstrap_cell(lambda i: v[i].mean(), len(v), n_boot=200, seed=3, key=("k",))
    fast = mean_cell(v, n_boot=200, seed=3, key=("k",))
    assert (fast.value, fast.lo, fast.hi) == pytest.approx((slow.value, slow.lo, slow.hi), rel=1e-12)


def test_markdown_uses_the_papers_names_and_csv_keeps_ours():
    from aas_dataset.analysis.report import display_names

    df = _frame(
        [
            {
                "model": "dance_flux",
                **_score("score_hpsv3", 1.0, 1.0, 0.0, 0.0),
                **_score("score_image_reward", *[0.0] * 4),
            }
            for _ in range(3)
        ]
    )
    t = generator_table(df, None, n_boot=10)
    md = t.to_markdown(names=display_names())
    assert "| DanceFlux |" in md and "ΔHPSv3" in md and "HPSv3 AA" in md
    assert "| ΔImgRwd |" in md and "ImageReward AA" in md  # the paper's abbreviated heading
    assert "Δ hpsv3" in t.to_csv() and "dance_flux" in t.to_csv()


def test_rowwise_statistics_equal_sklearn_and_scipy_on_every_resample():
    """The vectorised statistics behind the report's intervals give, resample by resample, what
    sklearn / scipy give one sample at a time (ties, saturated scores and one-class resamples
    included)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score

    from aas_dataset.analysis.metrics import rowwise

    rng = np.random.default_rng(7)
    n = 60
    y = rng.integers(0, 2, size=n)
    score = np.round(rng.normal(size=n), 1)  # rounded: tied scores
    yhat = (score > 0).astype(int)
    a, b = rng.integers(0, 3, size=n), rng.integers(0, 3, size=n)
    x1, x2 = np.round(rng.normal(size=n), 1), np.round(rng.normal(size=n), 1)
    idx = rng.integers(0, n, size=(40, n))
    idx[0] = np.flatnonzero(y == 1)[0]  # a resample of one class only
    f1 = rowwise.binary_f1(y[idx], yhat[idx])
    auc = rowwise.auroc(y[idx], score[idx])
    codes = np.unique(score, return_inverse=True)[1]
    assert np.allclose(rowwise.auroc(y[idx], codes[idx]), auc, equal_nan=True)  # the no-sort path
    kq = rowwise.cohen_kappa(a[idx], b[idx], 3, "quadratic")
    ku = rowwise.cohen_kappa(a[idx], b[idx], 3)
    rho = rowwise.spearman(x1[idx], x2[idx])
    r = rowwise.wilcoxon_r(x1[idx], x2[idx])
    assert np.isnan(auc[0])
    for k, i in enumerate(idx):
        assert f1[k] == pytest.approx(f1_score(y[i], yhat[i], pos_label=1, zero_division=0))
        assert kq[k] == pytest.approx(cohen_kappa_score(a[i], b[i], weights="quadratic", labels=[0, 1, 2]), nan_ok=True)
        assert ku[k] == pytest.approx(cohen_kappa_score(a[i], b[i], labels=[0, 1, 2]), nan_ok=True)
        assert rho[k] == pytest.approx(spearmanr(x1[i], x2[i]).statistic, nan_ok=True)
        assert r[k] == pytest.approx(wilcoxon_r(x1[i], x2[i])[1], nan_ok=True)
        if k:
            assert auc[k] == pytest.approx(roc_auc_score(y[i], score[i]))


def test_a_vectorised_bootstrap_draws_the_same_resamples_as_the_per_resample_one():
    from sklearn.metrics import roc_auc_score

    from aas_dataset.analysis.metrics import rowwise

    rng = np.random.default_rng(2)
    y, s = rng.integers(0, 2, size=300), rng.normal(size=300)
    slow = bootstrap_cell(lambda i: roc_auc_score(y[i], s[i]), 300, n_boot=200, seed=4, key=("a",))
    fast = bootstrap_cell(lambda i: rowwise.auroc(y[i], s[i]), 300, n_boot=200, seed=4, key=("a",), vectorized=True)
    assert (fast.value, fast.lo, fast.hi) == pytest.approx((slow.value, slow.lo, slow.hi), rel=1e-12)
