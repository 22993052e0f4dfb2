"""Tables of the real references: the real-photo bias (clean twin vs photograph) and the
artworks' place among generators, from the `real_photos` and `artworks` configs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aas_dataset.analysis.metrics.core import N_BOOT, Cell, Table, mean_cell
from aas_dataset.analysis.metrics.tables import AUX_SUFFIXES, _sigmoid, lapis_relative_score


def _scorers(df: pd.DataFrame, field: str) -> list[str]:
    names = [c[: -len(field) - 1] for c in df.columns if c.startswith("score_") and c.endswith("." + field)]
    return [n for n in names if not n.endswith(AUX_SUFFIXES)]


def real_photos_table(df: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> Table:
    """Per scorer: bias = r(twin, p_a) − r(photo, p_a) (`oidp − didp`: I_o is the twin, I_a the
    photograph, p_a the anti-aesthetic caption), overall, per class and per sub-class of the
    curator's elements (a photo with two elements counts in both), with the AVA mean vote."""
    t = Table(
        "real_photo_bias",
        "Real photographs: bias = r(clean twin) − r(photo) under the anti-aesthetic caption",
        ["group"],
    )
    scorers = _scorers(df, "oidp")
    ok = df[df["status"] == "accepted"].reset_index(drop=True) if "status" in df else df
    tags = [list(e) if e is not None else [] for e in ok.get("elements", pd.Series([[]] * len(ok)))]
    groups: dict[str, list[int]] = {"overall": list(range(len(ok)))}
    for level in ("class", "sub-class"):
        for i, ts in enumerate(tags):
            for tag in dict.fromkeys(t.split(".")[0] if level == "class" else t for t in ts):
                groups.setdefault(tag, []).append(i)
    human = ok["human_score"].to_numpy(float) if "human_score" in ok else np.full(len(ok), np.nan)
    for g, rows in groups.items():
        idx = np.asarray(rows, dtype=int)
        h = human[idx]
        row: dict = {"group": g, "n": len(idx)}
        row["AVA mean vote"] = Cell(float(np.nanmean(h))) if np.isfinite(h).any() else Cell(float("nan"))
        for s in scorers:
            d = (ok[f"{s}.oidp"].to_numpy(float) - ok[f"{s}.didp"].to_numpy(float))[idx]
            d = d[np.isfinite(d)]
            row[f"bias {s[len('score_') :]}"] = mean_cell(d, n_boot=n_boot, seed=seed, key=("real", g, s))
        t.rows.append(row)
    rejected = int((df["status"] == "rejected").sum()) if "status" in df else 0
    t.notes.append(
        f"{len(ok)} accepted photographs with a twin ({rejected} rejected by the curator, kept in the config "
        "with their reason). Positive bias: the reward model prefers the conventional image the caption contradicts."
    )
    return t


def artworks_table(
    df: pd.DataFrame,
    leaderboard: dict[str, float] | None = None,
    leaderboard_scorer: str | None = None,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Table:
    """Per scorer: mean r(artwork, caption) and r under a shuffled caption (for BLIP-style
    scorers with a `_neg` logit, the match probability σ(pos − neg)); for the leaderboard's
    scorer, the relative score s = (r − r_min)/(r_max − r_min) and the artworks' rank among
    the leaderboard's models."""
    t = Table("artworks", "Artworks: mean score, relative score and rank against a leaderboard", ["scorer"])
    for s in _scorers(df, "caption"):
        name = s[len("score_") :]
        own, other = df[f"{s}.caption"].to_numpy(float), df[f"{s}.shuffled"].to_numpy(float)
        if f"{s}_neg.caption" in df:
            own = _sigmoid(own - df[f"{s}_neg.caption"].to_numpy(float))
            other = _sigmoid(other - df[f"{s}_neg.shuffled"].to_numpy(float))
        own, other = own[np.isfinite(own)], other[np.isfinite(other)]
        row: dict = {"scorer": name, "n": len(own)}
        row["mean (true caption)"] = mean_cell(own, n_boot=n_boot, seed=seed, key=("art", s))
        row["mean (shuffled caption)"] = mean_cell(other, n_boot=n_boot, seed=seed, key=("art-shuf", s))
        if leaderboard and name == leaderboard_scorer and len(own):
            r_min, r_max = min(leaderboard.values()), max(leaderboard.values())
            row["relative score"] = lapis_relative_score(own, r_min, r_max, n_boot=n_boot, seed=seed)
            mean = float(own.mean())
            row["rank"] = f"{1 + sum(v > mean for v in leaderboard.values())} / {len(leaderboard) + 1}"
        t.rows.append(row)
    if leaderboard:
        t.notes.append(
            f"Leaderboard of {leaderboard_scorer}: "
            + ", ".join(f"{k} {v:g}" for k, v in sorted(leaderboard.items(), key=lambda kv: -kv[1]))
            + "; rank counts the artworks as one more entry."
        )
    t.notes.append("Shuffled: each artwork scored under another artwork's caption (a seeded derangement).")
    return t
