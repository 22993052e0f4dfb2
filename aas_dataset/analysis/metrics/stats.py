"""Aligned vs base generators: one-sided Wilcoxon signed-rank and McNemar, paired by index.

Wilcoxon runs on base − aligned with alternative "less" (H1: the aligned model scores higher,
i.e. stays closer to conventional quality when asked not to). The effect size is
r = Z / sqrt(N) from the normal approximation, so it is negative when the aligned model
scores higher, the sign the paper reports. McNemar is the exact one-sided binomial test on
the discordant pairs (H1: the aligned model succeeds less often).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest, wilcoxon

from aas_dataset.analysis.metrics.core import N_BOOT, Table, bootstrap_cell, mean_cell
from aas_dataset.analysis.metrics.rowwise import wilcoxon_r as wilcoxon_r_rows
from aas_dataset.analysis.metrics.tables import _sum_vectors, rater_names, score_names


def _paired(df: pd.DataFrame, aligned: str, base: str, value) -> tuple[np.ndarray, np.ndarray]:
    a = df[df["model"] == aligned].drop_duplicates("index").set_index("index")
    b = df[df["model"] == base].drop_duplicates("index").set_index("index")
    common = a.index.intersection(b.index).sort_values()
    va, vb = value(a.loc[common]), value(b.loc[common])
    ok = ~(np.isnan(va) | np.isnan(vb))
    return va[ok], vb[ok]


def wilcoxon_r(aligned: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """(one-sided p, r = Z/sqrt(N)) for H1: aligned > base."""
    if len(aligned) == 0 or np.all(aligned == base):
        return float("nan"), float("nan")
    res = wilcoxon(base, aligned, alternative="less", method="approx")
    n = int(np.sum(base != aligned))  # zero differences are dropped ("wilcox" zero_method)
    return float(res.pvalue), float(res.zstatistic / np.sqrt(n))


def mcnemar_less(aligned_success: np.ndarray, base_success: np.ndarray) -> tuple[float, int, int]:
    """(one-sided exact p, b, c) for H1: the aligned model succeeds less often.
    b = base succeeds and aligned fails; c = aligned succeeds and base fails."""
    b = int(np.sum(base_success & ~aligned_success))
    c = int(np.sum(aligned_success & ~base_success))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="greater").pvalue)
    return p, b, c


def comparison_table(
    df: pd.DataFrame,
    comparisons: list[tuple[str, str]],
    ground_truth: str | None,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Table:
    t = Table("aligned_vs_base", "Aligned vs base: paired one-sided tests", ["comparison", "metric"])
    values = {
        f"{s[len('score_') :]} r(I_a,p_o)": (lambda f, s=s: f[f"{s}.diop"].to_numpy(float)) for s in score_names(df)
    }
    for r in rater_names(df):
        values[f"ΣJ {r}(I_a)"] = lambda f, r=r: _sum_vectors(f[f"rater_{r}.distorted"])
    for aligned, base in comparisons:
        name = f"{aligned} vs {base}"
        for metric, fn in values.items():
            va, vb = _paired(df, aligned, base, fn)
            p, _ = wilcoxon_r(va, vb)
            t.rows.append(
                {
                    "comparison": name,
                    "test": "Wilcoxon",
                    "metric": metric,
                    "n": len(va),
                    "p": p,
                    "r": bootstrap_cell(
                        lambda i, va=va, vb=vb: wilcoxon_r_rows(va[i], vb[i]),
                        len(va),
                        n_boot=n_boot,
                        seed=seed,
                        key=("wil", name, metric),
                        vectorized=True,
                    ),
                    "mean diff": mean_cell(va - vb, n_boot=n_boot, seed=seed, key=("md", name, metric)),
                }
            )
        if ground_truth and f"label_{ground_truth}" in df:
            col = f"label_{ground_truth}"
            sa, sb = _paired(df, aligned, base, lambda f, col=col: f[col].to_numpy(float))
            p, b, c = mcnemar_less(sa == 1, sb == 1)
            t.rows.append(
                {
                    "comparison": name,
                    "test": "McNemar",
                    "metric": f"success ({ground_truth})",
                    "n": len(sa),
                    "p": p,
                    "mean diff": mean_cell(
                        (sa == 1).astype(float) - (sb == 1), n_boot=n_boot, seed=seed, key=("mc", name)
                    ),
                }
            )
    t.notes.append("Pairs by prompt index. Wilcoxon: H1 aligned > base; r = Z/√N (negative = aligned higher).")
    t.notes.append("McNemar: exact one-sided binomial test on discordant pairs; H1 aligned succeeds less.")
    t.notes.append("mean diff = aligned − base. p-values have no interval.")
    return t
