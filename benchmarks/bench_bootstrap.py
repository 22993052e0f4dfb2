"""The report's tables on a paper-sized scores frame (11 models × 300 rows = 3,300 rows, nine
scorer columns, J, three pairwise judges), 1000 resamples per interval; and one reward-model
cell both ways: per resample through sklearn, and vectorised (target: all tables ≤ 5 s).

Run: python benchmarks/bench_bootstrap.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aas_dataset.analysis.metrics import (  # noqa: E402
    classification_table,
    comparison_table,
    dimension_table,
    generator_table,
    j_by_dimension_table,
    judge_agreement_table,
    shift_by_dimension_table,
)
from aas_dataset.analysis.metrics.core import bootstrap_cell  # noqa: E402
from aas_dataset.spec.taxonomy import DIMENSION_KEYS  # noqa: E402

MODELS = ["flux_dev", "dance_flux", "grpo_flux", "flux_krea", "stable_diffusion_xl", "playground"]
MODELS += ["stable_diffusion_3_5_medium", "sd3_medium_grpo_geneval", "sd3_medium_grpo", "nano-banana", "repeat"]
SCORERS = ["hps_v1", "hpsv2_1", "hpsv3", "image_reward", "pickscore", "mps", "clip_l", "blip_itm_large"]


def paper_sized_frame(rows_per_model: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rows_per_model * len(MODELS)
    d: dict = {"model": np.repeat(MODELS, rows_per_model), "index": np.tile(np.arange(rows_per_model), len(MODELS))}
    for s in [*SCORERS, "blip_itm_large_neg"]:
        for c in ("oiop", "oidp", "diop", "didp"):
            d[f"score_{s}.{c}"] = rng.normal(size=n)
    d["rater_rater_j.original"] = list(rng.integers(0, 3, size=(n, 11)))
    d["rater_rater_j.distorted"] = list(rng.integers(0, 3, size=(n, 11)))
    for j in ("qwen", "gpt5", "glm"):
        d[f"label_{j}"] = rng.choice([-1, 0, 1], size=n, p=[0.1, 0.2, 0.7]).astype(float)
    d["selected_dims"] = [list(rng.choice(list(DIMENSION_KEYS), size=3, replace=False)) for _ in range(n)]
    return pd.DataFrame(d)


def main() -> None:
    df = paper_sized_frame()
    comps = [("dance_flux", "flux_dev"), ("playground", "stable_diffusion_xl")]
    comps.append(("sd3_medium_grpo", "stable_diffusion_3_5_medium"))
    tables = {
        "generators": lambda: generator_table(df, "qwen"),
        "reward_models": lambda: classification_table(df, "qwen"),
        "success_by_dimension": lambda: dimension_table(df, "qwen"),
        "shift_by_dimension": lambda: shift_by_dimension_table(df),
        "j_by_dimension": lambda: j_by_dimension_table(df, "rater_j"),
        "judge_agreement": lambda: judge_agreement_table(df, "qwen"),
        "aligned_vs_base": lambda: comparison_table(df, comps, "qwen"),
    }
    total = 0.0
    for name, fn in tables.items():
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        total += dt
        print(f"{name:22s} {dt:6.2f} s")
    print(f"{'all tables':22s} {total:6.2f} s  ({len(df)} rows, 1000 resamples per cell; target <= 5 s)")

    from sklearn.metrics import roc_auc_score

    from aas_dataset.analysis.metrics import rowwise

    keep = df[df["label_qwen"].isin([0, 1])]
    y = keep["label_qwen"].to_numpy(int)
    s = (keep["score_hpsv3.didp"] - keep["score_hpsv3.oidp"]).to_numpy()
    t0 = time.perf_counter()
    slow = bootstrap_cell(lambda i: roc_auc_score(y[i], s[i]), len(y), key=("b",))
    t_slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    codes = np.unique(s, return_inverse=True)[1]  # as the reward-model table passes them
    fast = bootstrap_cell(lambda i: rowwise.auroc(y[i], codes[i]), len(y), key=("b",), vectorized=True)
    t_fast = time.perf_counter() - t0
    same = np.allclose([slow.value, slow.lo, slow.hi], [fast.value, fast.lo, fast.hi])
    print(
        f"one AUROC cell: per resample {t_slow:.2f} s, vectorised {t_fast:.2f} s, "
        f"ratio {t_slow / t_fast:.0f}x, same interval: {same}"
    )


if __name__ == "__main__":
    main()
