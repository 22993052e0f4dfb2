"""Statistics of many bootstrap resamples at once: every function takes 2-D arrays (one resample
per row) and returns one value per row, so `bootstrap_cell(..., vectorized=True)` runs 1000
resamples as a few array operations instead of 1000 calls into sklearn or scipy. (A mean, such
as an accuracy or an MAE, needs none of this: `core.mean_cell` resamples the values directly.)

Written here because sklearn's metrics take one sample at a time; each function is checked
against its sklearn / scipy counterpart in tests/analysis/test_metrics.py.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def binary_f1(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """F1 of the positive class 1 (sklearn's `f1_score(pos_label=1, zero_division=0)`)."""
    y, yhat = y.astype(bool), yhat.astype(bool)
    tp = (y & yhat).sum(axis=-1)
    wrong = (y != yhat).sum(axis=-1)  # false positives + false negatives
    den = 2 * tp + wrong
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)


def auroc(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Area under the ROC curve as the Mann-Whitney U (ties count one half, as in
    `roc_auc_score`); NaN where a resample holds one class only. An integer `score` is taken as
    codes 0..k-1 that order the distinct values (`np.unique(..., return_inverse=True)[1]`):
    then U counts, for each positive, the negatives below its code, without sorting any row."""
    y = np.atleast_2d(y).astype(bool)
    score = np.atleast_2d(score)
    n1 = y.sum(axis=-1).astype(float)
    n0 = y.shape[-1] - n1
    if np.issubdtype(score.dtype, np.integer):
        rows, k = len(score), int(score.max()) + 1
        at = (np.arange(rows)[:, None] * k + score)[~y]
        neg = np.bincount(at, minlength=rows * k).reshape(rows, k).astype(float)
        below = np.cumsum(neg, axis=1) - 0.5 * neg  # negatives below each code, ties one half
        u = (np.take_along_axis(below, score, axis=1) * y).sum(axis=-1)
    else:
        ranks = rankdata(score, axis=-1)
        u = (ranks * y).sum(axis=-1) - n1 * (n1 + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n1 > 0) & (n0 > 0), u / (n1 * n0), np.nan)


def wilcoxon_r(aligned: np.ndarray, base: np.ndarray) -> np.ndarray:
    """r = Z / sqrt(N) of the one-sided signed-rank test base − aligned (H1: aligned higher),
    zero differences dropped, normal approximation without continuity correction; NaN where
    every difference is zero."""
    from scipy.stats import wilcoxon

    aligned, base = np.atleast_2d(aligned), np.atleast_2d(base)
    n = (base != aligned).sum(axis=-1)
    out = np.full(len(n), np.nan)
    ok = n > 0
    if ok.any():
        res = wilcoxon(base[ok], aligned[ok], alternative="less", method="asymptotic", axis=-1)
        out[ok] = np.asarray(res.zstatistic) / np.sqrt(n[ok])
    return out


def cohen_kappa(a: np.ndarray, b: np.ndarray, k: int, weights: str | None = None) -> np.ndarray:
    """Cohen's κ of two raters' codes in 0..k-1 (sklearn's `cohen_kappa_score` with
    `labels=range(k)`; weights None or "quadratic"); NaN where a resample uses fewer than two
    codes in all."""
    a, b = np.atleast_2d(a).astype(np.int64), np.atleast_2d(b).astype(np.int64)
    rows, n = a.shape
    codes = (np.arange(rows)[:, None] * k * k + a * k + b).ravel()
    confusion = np.bincount(codes, minlength=rows * k * k).reshape(rows, k, k).astype(float)
    expected = confusion.sum(axis=2)[:, :, None] * confusion.sum(axis=1)[:, None, :] / n
    i, j = np.indices((k, k))
    w = (i - j) ** 2 if weights == "quadratic" else (i != j).astype(float)
    used = ((confusion.sum(axis=2) + confusion.sum(axis=1)) > 0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = 1 - (w * confusion).sum(axis=(1, 2)) / (w * expected).sum(axis=(1, 2))
    return np.where(used >= 2, kappa, np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ per row (average ranks); NaN where either side is constant."""
    rx, ry = rankdata(np.atleast_2d(x), axis=-1), rankdata(np.atleast_2d(y), axis=-1)
    rx -= rx.mean(axis=-1, keepdims=True)
    ry -= ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / den, np.nan)
