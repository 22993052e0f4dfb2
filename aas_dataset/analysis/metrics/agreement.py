"""Agreement of the ground-truth judge with human raters (`aas annotate`), and between raters.

Judge vs humans: over every (rater, pair) answer, accuracy with ties removed (pairs where the
human or the judge said tie are left out) and with ties merged into I_o (a tie counts as "not
I_a" on both sides), the two readings of the paper (0.923 / 0.85). Between raters: Cohen's κ of
each pair of raters on the pairs both answered (three categories), and Fleiss' κ on the pairs
every rater answered. Every value has a seeded bootstrap interval over pairs.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from aas_dataset.analysis.metrics.core import N_BOOT, Table, bootstrap_cell, mean_cell
from aas_dataset.analysis.metrics.rowwise import cohen_kappa


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ of an (items, categories) table of rater counts, every item rated by the same
    number of raters. Written here because statsmodels (which has it) is not a dependency of ours."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)[0]
    if len(counts) == 0 or n < 2:
        return float("nan")
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_e = float((p_j**2).sum())
    return float("nan") if p_e == 1 else float((p_i.mean() - p_e) / (1 - p_e))


def human_agreement_tables(
    answers: list[tuple[str, str, int, int]], judge_labels: dict[tuple[str, int], int | None], judge: str,
    *, n_boot: int = N_BOOT, seed: int = 0,
) -> list[Table]:  # fmt: skip
    """`answers`: (rater, model, index, label); `judge_labels`: (model, index) -> the judge's label."""
    t = Table("human_vs_judge", f"Judge ({judge}) vs human raters", ["raters"])
    raters = sorted({a[0] for a in answers})
    for who in [*raters, "all raters"]:
        mine = [a for a in answers if who == "all raters" or a[0] == who]
        pairs = [(h, judge_labels.get((m, i))) for _, m, i, h in mine]
        pairs = [(h, j) for h, j in pairs if j is not None]
        h = np.array([p[0] for p in pairs], dtype=int)
        j = np.array([p[1] for p in pairs], dtype=int)
        keep = (h != -1) & (j != -1)
        hk, jk = h[keep], j[keep]
        hm, jm = (h == 1).astype(int), (j == 1).astype(int)
        t.rows.append(
            {
                "raters": who,
                "answers": len(h),
                "accuracy (ties removed)": mean_cell(hk == jk, n_boot=n_boot, seed=seed, key=("hj", who)),
                "n (ties removed)": int(keep.sum()),
                "accuracy (ties as I_o)": mean_cell(hm == jm, n_boot=n_boot, seed=seed, key=("hjm", who)),
            }
        )
    tables = [t]
    if len(raters) >= 2:
        k = Table("inter_rater", "Agreement between raters", ["raters"])
        by = {r: {(m, i): lab for rr, m, i, lab in answers if rr == r} for r in raters}
        for a, b in combinations(raters, 2):
            common = sorted(set(by[a]) & set(by[b]))
            x = np.array([by[a][c] for c in common])
            y = np.array([by[b][c] for c in common])
            k.rows.append(
                {
                    "raters": f"{a} / {b}",
                    "measure": "Cohen's κ",
                    "pairs": len(common),
                    "κ": bootstrap_cell(
                        lambda i, x=x + 1, y=y + 1: cohen_kappa(x[i], y[i], 3),  # codes -1..1 -> 0..2
                        len(common),
                        n_boot=n_boot,
                        seed=seed,
                        key=("ck", a, b),
                        vectorized=True,
                    ),
                }
            )
        common = sorted(set.intersection(*(set(by[r]) for r in raters)))
        counts = np.array([[sum(by[r][c] == cat for r in raters) for cat in (-1, 0, 1)] for c in common])
        k.rows.append(
            {
                "raters": "all",
                "measure": "Fleiss' κ",
                "pairs": len(common),
                "κ": bootstrap_cell(
                    lambda i, c=counts: fleiss_kappa(c[i]), len(common), n_boot=n_boot, seed=seed, key=("fk",)
                ),
            }
        )
        tables.append(k)
    return tables
