"""The paper's tables as plain functions of a flat `scores` DataFrame (see `core.read_frame`).

Conventions (docs/paper_fidelity.md, "Metric conventions"): labels 0 = I_o, 1 = I_a, -1 = tie. A generator "succeeds"
on a row when the ground-truth judge chose I_a (ties and I_o are failures; rows without a
label are left out). Reward-model classification drops ties; it predicts I_a iff
r(I_a, p_a) > r(I_o, p_a) (equal scores predict I_o); AUROC uses the two-way softmax,
sigma(r_didp - r_oidp). A verifier judge predicts I_a iff it chose I_a (its tie -> I_o).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aas_dataset.analysis.metrics.core import N_BOOT, Table, bootstrap_cell, mean_cell

AUX_SUFFIXES = ("_neg", "_sigma")  # secondary outputs: BLIP's negative ITM logit, HPSv3's sigma
NEG_EMOTION_COLUMNS = {"angry": "anger", "fearful": "fear", "sad": "sadness"}


def score_names(df: pd.DataFrame) -> list[str]:
    """Primary score columns (`score_x`), in column order."""
    names = []
    for c in df.columns:
        if c.startswith("score_") and c.endswith(".didp"):
            base = c[: -len(".didp")]
            if not base.endswith(AUX_SUFFIXES):
                names.append(base)
    return names


def label_names(df: pd.DataFrame) -> list[str]:
    return [c[len("label_") :] for c in df.columns if c.startswith("label_")]


def rater_names(df: pd.DataFrame) -> list[str]:
    return [
        c[len("rater_") : -len(".original")]
        for c in df.columns
        if c.startswith("rater_") and c.endswith(".original") and not c.endswith("_pred.original")
    ]


def _sum_vectors(col: pd.Series) -> np.ndarray:
    return np.array([np.sum(v) if v is not None else np.nan for v in col], dtype=np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def generator_table(df: pd.DataFrame, ground_truth: str | None, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Per model: Δ = mean[r(I_a,p_o) - r(I_o,p_o)] and AA = mean r(I_a,p_o) for every scorer;
    match probability for scorers with a `_neg` logit (BLIP ITM); ΔJ and J AA (sums over all
    11 dimensions) for every rater; success = share of rows the ground truth judged I_a."""
    t = Table("generators", "Generators: shift away from conventional quality, and compliance", ["model"])
    scores, raters = score_names(df), rater_names(df)
    for model in dict.fromkeys(df["model"]):
        sub = df[df["model"] == model].reset_index(drop=True)
        row: dict = {"model": model, "n": len(sub)}

        def cell(col, values, model=model):
            v = values[~np.isnan(values)]
            return mean_cell(v, n_boot=n_boot, seed=seed, key=("gen", model, col))

        for s in scores:
            name = s[len("score_") :]
            oiop, diop = sub[f"{s}.oiop"].to_numpy(float), sub[f"{s}.diop"].to_numpy(float)
            if not (np.isnan(oiop).all() or np.isnan(diop).all()):
                row[f"Δ {name}"] = cell(f"d{name}", diop - oiop)
                row[f"{name} AA"] = cell(f"aa{name}", diop)
            if f"{s}_neg.didp" in sub:
                pos, neg = sub[f"{s}.didp"].to_numpy(float), sub[f"{s}_neg.didp"].to_numpy(float)
                row[f"{name} match"] = cell(f"m{name}", _sigmoid(pos - neg))
        for r in raters:
            orig, dist = _sum_vectors(sub[f"rater_{r}.original"]), _sum_vectors(sub[f"rater_{r}.distorted"])
            row[f"ΔJ {r}"] = cell(f"dj{r}", dist - orig)
            row[f"J AA {r}"] = cell(f"ja{r}", dist)
        if ground_truth and f"label_{ground_truth}" in sub:
            lab = sub[f"label_{ground_truth}"].to_numpy(float)
            row["success"] = cell("success", np.where(np.isnan(lab), np.nan, (lab == 1).astype(float)))
        t.rows.append(row)
    t.notes.append("Δ = mean[r(I_a, p_o) − r(I_o, p_o)]; AA = mean r(I_a, p_o); 95% bootstrap intervals.")
    if ground_truth:
        t.notes.append(f"success: share of rows where judge `{ground_truth}` chose I_a (ties and I_o fail).")
    return t


def _classify(
    y: np.ndarray, yhat: np.ndarray, score: np.ndarray | None, name: str, kind: str, n_boot: int, seed: int
) -> dict:
    from aas_dataset.analysis.metrics.rowwise import auroc, binary_f1

    def cell(stat, metric):
        return bootstrap_cell(stat, len(y), n_boot=n_boot, seed=seed, key=("rm", name, metric), vectorized=True)

    row = {"model": name, "kind": kind, "n": len(y)}
    row["accuracy"] = mean_cell(y == yhat, n_boot=n_boot, seed=seed, key=("rm", name, "acc"))
    row["F1"] = cell(lambda i: binary_f1(y[i], yhat[i]), "f1")
    if score is not None:
        # the two-way softmax of the paper (saturated values tie, as they did there), as rank codes
        codes = np.unique(_sigmoid(score), return_inverse=True)[1].reshape(-1)
        row["AUROC"] = cell(lambda i: auroc(y[i], codes[i]), "auc")
    else:
        row["AUROC"] = None
    return row


def classification_table(df: pd.DataFrame, ground_truth: str, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    col = f"label_{ground_truth}"
    if col not in df:
        raise KeyError(f"no label column {col!r}; labels present: {', '.join(label_names(df)) or 'none'}")
    t = Table(
        "reward_models", f"Reward models: does r(I_a, p_a) > r(I_o, p_a)? (ground truth: {ground_truth})", ["model"]
    )
    keep = df[df[col].isin([0, 1])].reset_index(drop=True)
    y_all = keep[col].to_numpy(int)
    for s in score_names(keep):
        o, d = keep[f"{s}.oidp"].to_numpy(float), keep[f"{s}.didp"].to_numpy(float)
        ok = ~(np.isnan(o) | np.isnan(d))
        if not ok.any():
            continue
        y, diff = y_all[ok], (d - o)[ok]
        t.rows.append(_classify(y, (diff > 0).astype(int), diff, s[len("score_") :], "scorer", n_boot, seed))
    for j in label_names(keep):
        if j == ground_truth:
            continue
        v = keep[f"label_{j}"].to_numpy(float)
        ok = ~np.isnan(v)
        if ok.any():
            t.rows.append(_classify(y_all[ok], (v[ok] == 1).astype(int), None, j, "verifier", n_boot, seed))
    dropped = len(df) - len(keep)
    t.notes.append(f"{len(keep)} rows with a {ground_truth} label of 0 or 1; {dropped} ties or unlabeled rows removed.")
    t.notes.append("F1: binary, positive class = the anti-aesthetic image. AUROC from σ(r_didp − r_oidp).")
    return t


def emotion_bias_table(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Share of rows where a scorer ranks the edited negative face strictly above the happy face,
    both under the prompt filled with the negative emotion."""
    t = Table("emotion_bias", "Emotion bias: edited (negative) face preferred over the happy one", ["model"])
    for c in [c[: -len(".sad")] for c in df.columns if c.startswith("score_") and c.endswith(".sad")]:
        row: dict = {"model": c[len("score_") :], "n": len(df)}
        for e, label in NEG_EMOTION_COLUMNS.items():
            hit = (df[f"{c}.{e}"].to_numpy(float) > df[f"{c}.{e}_happy"].to_numpy(float)).astype(float)
            row[label] = mean_cell(hit, n_boot=n_boot, seed=seed, key=("emo", c, e))
        t.rows.append(row)
    t.notes.append("Correct iff r(negative face) > r(happy face), strictly.")
    return t


def emotion_generation_table(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Mean score per (model, target emotion); `df` has columns model, emotion, score."""
    t = Table("emotion_generation", "Emotion generation: mean score of the target expression", ["model"])
    for model in dict.fromkeys(df["model"]):
        row: dict = {"model": model}
        for e in dict.fromkeys(df["emotion"]):
            v = df[(df["model"] == model) & (df["emotion"] == e)]["score"].to_numpy(float)
            row[e] = mean_cell(v, n_boot=n_boot, seed=seed, key=("emogen", model, e))
        t.rows.append(row)
    return t


def real_photo_bias_table(
    df: pd.DataFrame, *, clean: str, anti: str, by: str = "class", n_boot: int = N_BOOT, seed: int = 0
) -> Table:
    """bias = r(clean counterpart, anti caption) − r(real anti-aesthetic photo, anti caption);
    positive = the reward model prefers the conventional image the caption contradicts."""
    t = Table("real_photo_bias", "Real photographs: clean − anti-aesthetic under the anti-aesthetic caption", [by])
    d = df[clean].to_numpy(float) - df[anti].to_numpy(float)
    groups = [("overall", d)] + [(g, d[(df[by] == g).to_numpy()]) for g in dict.fromkeys(df[by])]
    for g, v in groups:
        t.rows.append(
            {
                by: g,
                "n": len(v),
                "bias": mean_cell(v, n_boot=n_boot, seed=seed, key=("real", g)),
            }
        )
    return t


def lapis_relative_score(scores: np.ndarray, r_min: float, r_max: float, *, n_boot: int = N_BOOT, seed: int = 0):
    """s = (mean r_art − r_min) / (r_max − r_min)."""
    scores = np.asarray(scores, dtype=float)
    if r_max <= r_min:
        raise ValueError("r_max must be greater than r_min")
    return bootstrap_cell(
        lambda i: (scores[i].mean() - r_min) / (r_max - r_min), len(scores), n_boot=n_boot, seed=seed, key=("lapis",)
    )


def judge_agreement_table(df: pd.DataFrame, reference: str, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Agreement of every other pairwise judge with `reference`, on rows both labelled:
    exact accuracy (ties included), quadratic Cohen's κ and MAE on the ordinal coding
    tie -> 1, original -> 0, anti-aesthetic -> 2 (so a tie sits between the two choices)."""
    from aas_dataset.analysis.metrics.rowwise import cohen_kappa

    code = {-1: 1, 0: 0, 1: 2}
    t = Table("judge_agreement", f"Judge agreement with {reference}", ["judge"])
    ref = df[f"label_{reference}"].to_numpy(float)
    for j in label_names(df):
        if j == reference:
            continue
        other = df[f"label_{j}"].to_numpy(float)
        ok = ~(np.isnan(ref) | np.isnan(other))
        a = np.array([code[int(v)] for v in ref[ok]])
        b = np.array([code[int(v)] for v in other[ok]])

        def cell(stat, metric, j=j, n=len(a)):
            return bootstrap_cell(stat, n, n_boot=n_boot, seed=seed, key=("agree", j, metric), vectorized=True)

        row = {"judge": j, "n": int(ok.sum())}
        row["accuracy"] = mean_cell(a == b, n_boot=n_boot, seed=seed, key=("agree", j, "acc"))
        row["quadratic κ"] = cell(lambda i, a=a, b=b: cohen_kappa(a[i], b[i], 3, "quadratic"), "kappa")
        row["MAE"] = mean_cell(np.abs(a - b), n_boot=n_boot, seed=seed, key=("agree", j, "mae"))
        t.rows.append(row)
    t.notes.append(
        "Labels coded original 0, tie 1, anti-aesthetic 2; rows where either judge has no label are left out."
    )
    return t


def dimension_table(df: pd.DataFrame, ground_truth: str, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Success per model and per dimension: the share of the rows whose p_a asked for that
    dimension (a row counts in each of its dimensions) where the ground truth chose I_a."""
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    t = Table("success_by_dimension", f"Success by dimension (judge `{ground_truth}`)", ["model"])
    lab_all = df[f"label_{ground_truth}"].to_numpy(float)
    dims = [list(d) if d is not None else [] for d in df["selected_dims"]]
    for model in dict.fromkeys(df["model"]):
        mine = (df["model"] == model).to_numpy()
        row: dict = {"model": model, "n": int(mine.sum())}
        for d in DIMENSION_KEYS:
            take = mine & np.array([d in ds for ds in dims]) & ~np.isnan(lab_all)
            v = (lab_all[take] == 1).astype(float)
            row[d] = mean_cell(v, n_boot=n_boot, seed=seed, key=("dim", model, d))
        t.rows.append(row)
    t.notes.append("A row counts in each dimension its p_a was asked to carry; unlabelled rows are left out.")
    return t


def _asked(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Dimension -> a mask of the rows whose p_a asked for it."""
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    dims = [set(d) if d is not None else set() for d in df["selected_dims"]]
    return {d: np.array([d in ds for ds in dims], dtype=bool) for d in DIMENSION_KEYS}


def shift_by_dimension_table(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Per model and scorer, the mean shift Δ = r(I_a, p_o) − r(I_o, p_o) over the rows whose
    p_a asked for each dimension: which requested qualities cost a model most reward."""
    t = Table("shift_by_dimension", "Shift Δ under p_o by requested dimension", ["model", "scorer"])
    asked = _asked(df)
    models = df["model"].to_numpy()
    for s in score_names(df):
        d_all = df[f"{s}.diop"].to_numpy(float) - df[f"{s}.oiop"].to_numpy(float)
        for model in dict.fromkeys(df["model"]):
            mine = (models == model) & np.isfinite(d_all)
            row: dict = {"model": model, "scorer": s[len("score_") :], "n": int(mine.sum())}
            for dim, mask in asked.items():
                row[dim] = mean_cell(d_all[mine & mask], n_boot=n_boot, seed=seed, key=("sdim", model, s, dim))
            t.rows.append(row)
    t.notes.append("A row counts in each dimension its p_a was asked to carry; n = the model's rows with both scores.")
    return t


def j_by_dimension_table(df: pd.DataFrame, rater: str, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """J's own per-dimension scores: per model and dimension d, ΔJ_d = J(I_a, d) − J(I_o, d)
    over the rows whose p_a asked for d (did the image move on the scale it was asked to?)."""
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    t = Table(f"j_by_dimension_{rater}", f"J ({rater}) per dimension: ΔJ_d on the rows that asked for d", ["model"])
    asked = _asked(df)
    orig, dist = df[f"rater_{rater}.original"], df[f"rater_{rater}.distorted"]
    ok = np.array([o is not None and d is not None for o, d in zip(orig, dist, strict=True)])
    width = len(DIMENSION_KEYS)
    delta = np.full((len(df), width), np.nan)
    if ok.any():
        as_array = [np.stack([np.asarray(v, float) for v in col[ok]]) for col in (dist, orig)]
        delta[ok] = as_array[0] - as_array[1]
    models = df["model"].to_numpy()
    for model in dict.fromkeys(df["model"]):
        mine = (models == model) & ok
        row: dict = {"model": model, "n": int(mine.sum())}
        for k, dim in enumerate(DIMENSION_KEYS):
            row[dim] = mean_cell(delta[mine & asked[dim], k], n_boot=n_boot, seed=seed, key=("jdim", model, rater, dim))
        t.rows.append(row)
    t.notes.append(
        "J scores each dimension on [0, 2]: 0 = the anti-aesthetic quality is there, 2 = its opposite; "
        "a negative ΔJ_d = the image moved toward what p_a asked."
    )
    return t
