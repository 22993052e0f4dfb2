"""The paper's side studies computed from a release: judge-vs-reward correlations and the
mitigation table (VSF / NAG runs), as plain functions of the flat `scores` DataFrame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from aas_dataset.analysis.metrics.core import N_BOOT, Cell, Table, bootstrap_cell, mean_cell
from aas_dataset.analysis.metrics.rowwise import spearman
from aas_dataset.analysis.metrics.tables import _sigmoid, rater_names, score_names
from aas_dataset.spec.taxonomy import DIMENSION_KEYS


def judge_reward_correlation_table(df: pd.DataFrame, judge: str, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Per dimension (the rows whose p_a asked for it) and over all rows: Spearman's ρ between the
    0-100 judge's special-effects grade of I_a and each scorer's r(I_a, p_a), with a bootstrap
    interval; the all-rows line also gives Pearson's r. This is the authors' eval_later analysis,
    which printed ρ per dimension and the Pearson r of a linear fit for all rows. A negative ρ:
    the more of the asked-for effects the judge sees, the lower the reward."""
    grade_col = f"judge100_{judge}.distorted_special_effects"
    t = Table(
        "judge_reward_correlation",
        f"Judge ({judge}) special-effects grade vs reward under p_a: Spearman ρ",
        ["dimension"],
    )
    scorers = score_names(df)
    grade = df[grade_col].to_numpy(float)
    dims = [list(d) if d is not None else [] for d in df["selected_dims"]]
    groups = [(d, np.array([i for i, ds in enumerate(dims) if d in ds], dtype=int)) for d in DIMENSION_KEYS]
    groups.append(("all rows", np.arange(len(df))))
    for name, rows in groups:
        if not len(rows):
            continue
        row: dict = {"dimension": name, "n": len(rows)}
        for s in scorers:
            r = df[f"{s}.didp"].to_numpy(float)[rows]
            g = grade[rows]
            ok = np.isfinite(r) & np.isfinite(g)
            r, g = r[ok], g[ok]
            row[s[len("score_") :]] = (
                bootstrap_cell(
                    lambda i, r=r, g=g: spearman(g[i], r[i]),
                    len(r),
                    n_boot=n_boot,
                    seed=seed,
                    key=("corr", name, s),
                    vectorized=True,
                )
                if len(r) >= 3
                else Cell(float("nan"))
            )
            if name == "all rows" and len(r) >= 3:
                row[f"Pearson {s[len('score_') :]}"] = Cell(float(np.corrcoef(g, r)[0, 1]))
        t.rows.append(row)
    t.notes.append(
        "Rows per dimension: the pairs whose p_a was asked for it (a pair counts in each of its dimensions)."
    )
    return t


def mitigation_of(settings_json: str | None) -> tuple[str, float | None]:
    """(method, scale) of a generator's recorded settings: ("none", None) without guidance."""
    try:
        m = (json.loads(settings_json or "{}") or {}).get("mitigation")
    except ValueError:
        m = None
    if not m:
        return "none", None
    return str(m.get("method")), m.get("scale")


def mitigation_table(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """The paper's mitigation layout, per generator: method and scale of its negative guidance
    (none for plain runs, for comparison), mean r(I_a, p_a) per scorer, J_s per rater, and the
    ITM match probability for BLIP-style scorers. J_s is J restricted to each row's selected
    dimensions: the mean over those dimensions of J's expected score of I_a (0-2), averaged over
    rows (the paper does not state its aggregation; this is ours)."""
    t = Table("mitigation", "Mitigation (VSF / NAG): the anti-aesthetic image under p_a", ["model"])
    scorers, raters = score_names(df), rater_names(df)
    index = {k: i for i, k in enumerate(DIMENSION_KEYS)}
    for model in dict.fromkeys(df["model"]):
        sub = df[df["model"] == model]
        method, scale = mitigation_of(sub["generator_settings"].iloc[0] if "generator_settings" in sub else None)
        row: dict = {"model": model, "method": method, "scale": "–" if scale is None else f"{scale:g}", "n": len(sub)}

        def cell(col: str, v: np.ndarray, model=model) -> Cell:
            v = v[np.isfinite(v)]
            return mean_cell(v, n_boot=n_boot, seed=seed, key=("mit", model, col))

        for s in scorers:
            name = s[len("score_") :]
            row[name] = cell(name, sub[f"{s}.didp"].to_numpy(float))
            if f"{s}_neg.didp" in sub:
                pos, neg = sub[f"{s}.didp"].to_numpy(float), sub[f"{s}_neg.didp"].to_numpy(float)
                row[f"{name} match"] = cell(f"{name} match", _sigmoid(pos - neg))
        for j in raters:
            js = [
                np.mean([vec[index[d]] for d in dims]) if vec is not None and dims is not None and len(dims) else np.nan
                for vec, dims in zip(sub[f"rater_{j}.distorted"], sub["selected_dims"], strict=True)
            ]
            row[f"J_s {j}"] = cell(f"J_s {j}", np.asarray(js, dtype=float))
        t.rows.append(row)
    t.notes.append("Scored under p_a. VSF and NAG scales are not comparable with each other.")
    t.notes.append("J_s: per row, the mean of J's expected score of I_a over the row's selected dimensions.")
    return t


def emotion_generation_tables(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> list[Table]:
    """Per scorer, the paper's emotion-generation layout (model x emotion): the mean score of the
    face crops against a caption naming the target emotion; for BLIP-style scorers with a `_neg`
    logit the match probability σ(pos − neg). Images without a face are counted, not scored."""
    from aas_dataset.analysis.metrics.tables import AUX_SUFFIXES, emotion_generation_table

    out = []
    for col in [c for c in df.columns if c.startswith("score_") and not c.endswith(AUX_SUFFIXES)]:
        v = df[col].to_numpy(float)
        if f"{col}_neg" in df:
            v = _sigmoid(v - df[f"{col}_neg"].to_numpy(float))
        ok = np.isfinite(v)
        frame = pd.DataFrame({"model": df["model"][ok], "emotion": df["emotion"][ok], "score": v[ok]})
        t = emotion_generation_table(frame, n_boot=n_boot, seed=seed)
        name = col[len("score_") :]
        t.name = f"emotion_generation_{name}"
        t.title = f"Emotion generation: {name} of the face crop against a caption naming the emotion"
        faces = df.groupby("model", sort=False)["face"].apply(lambda s: f"{(s == 'found').sum()} of {len(s)}")
        t.notes.append("Faces found: " + "; ".join(f"{m} {n}" for m, n in faces.items()) + ".")
        out.append(t)
    return out
