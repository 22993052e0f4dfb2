"""`evaluate_reward_model`: score a release's pairs with any scorer and place its row of the
reward-model table beside the rows already in the release.

A scorer is anything with `score(images, prompts) -> array` (one score per image, batched),
a catalog scorer name, or a `module:Class` path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from aas_dataset.analysis.metrics import classification_table, read_frame
from aas_dataset.analysis.metrics.core import N_BOOT, Table
from aas_dataset.release.manifest import read_manifest
from aas_dataset.spec.images import ImageProblem, open_checked


def resolve_scorer(spec, settings: dict | None = None):
    """An object with `.score`, a catalog scorer name (with setting overrides), or `module:Class`
    (constructed without arguments)."""
    if hasattr(spec, "score"):
        return spec, getattr(spec, "name", type(spec).__name__)
    from aas_dataset.catalog import resolve, role_problem
    from aas_dataset.spec.recipe import Entry

    if ":" in spec:
        module, _, attr = spec.partition(":")
        if role_problem("scorer", spec) is None:  # a Scorer of the user's: its settings apply
            obj = resolve("scorer", attr, settings, extra={attr: Entry(kind=spec)}).instantiate()
        else:  # any object with score(images, prompts)
            obj = getattr(importlib.import_module(module), attr)()
        name = attr
    else:
        obj = resolve("scorer", spec, settings).instantiate()
        name = spec
    if getattr(obj, "rater", False):
        raise ValueError(f"{spec!r} is a per-dimension rater, not a reward model: it has no single score")
    if hasattr(obj, "load"):
        obj.load()
    return obj, name


def _pil(v):
    """A row's image as RGB: a decoded image (from `datasets`) or stored bytes, checked as
    every image entering a scorer is (ImageProblem if it cannot be scored)."""
    if hasattr(v, "convert"):
        return v.convert("RGB")
    return open_checked((v or {}).get("bytes")).convert("RGB")


def _labelled_pairs(data, gt: str, revision: str | None) -> Iterator[dict]:
    cols = ["model", "index", "prompt_distorted", "image_original", "image_distorted", f"label_{gt}"]
    folder = Path(str(data))
    if folder.exists():
        from aas_dataset.release.loader import iter_rows

        yield from (r for r in iter_rows(folder, "pairs", cols) if r[f"label_{gt}"] in (0, 1))
    else:
        from aas_dataset.release.loader import load

        ds = load("pairs", source=str(data), revision=revision).select_columns(cols)
        yield from (r for r in ds if r[f"label_{gt}"] in (0, 1))


def _release_info(data, revision: str | None) -> tuple[str | None, pd.DataFrame]:
    folder = Path(str(data))
    if folder.exists():
        m = read_manifest(folder)
        return m.get("recipe", {}).get("ground_truth"), read_frame(folder, "scores")
    from aas_dataset.release.loader import load

    ds = load("scores", source=str(data), revision=revision)
    return None, ds.flatten().to_pandas()


def evaluate_reward_model(
    scorer,
    data,
    *,
    ground_truth: str | None = None,
    revision: str | None = None,
    settings: dict | None = None,
    batch_size: int = 16,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> Table:
    """Score r(I_o, p_a) and r(I_a, p_a) on every pair the ground-truth judge did not tie, and
    return the reward-model table with this scorer's row first (kind `evaluated`)."""
    obj, name = resolve_scorer(scorer, settings)
    gt_release, scores_df = _release_info(data, revision)
    gt = ground_truth or gt_release or next((c[6:] for c in scores_df.columns if c.startswith("label_")), None)
    if gt is None:
        raise ValueError(f"{data}: the release has no judge labels to evaluate against")
    rows, buf, unreadable = [], [], []

    def flush():
        good, images = [], []
        for r in buf:  # a stored image that does not decode is a named row failure, not a crash
            try:
                pair = (_pil(r["image_original"]), _pil(r["image_distorted"]))
            except ImageProblem as e:
                unreadable.append(f"{r['model']} #{r['index']}: {e}")
                continue
            good.append(r)
            images += pair
        buf[:] = good
        if not buf:
            return
        prompts = [r["prompt_distorted"] for r in buf for _ in range(2)]
        s = np.asarray(obj.score(images, prompts), dtype=np.float64)
        s = s[:, 0] if s.ndim == 2 else s
        if s.shape != (len(images),):
            raise ValueError(f"scorer {name!r} returned shape {s.shape} for {len(images)} images")
        for k, r in enumerate(buf):
            rows.append(
                {
                    "model": r["model"],
                    "index": r["index"],
                    f"label_{gt}": r[f"label_{gt}"],
                    f"score_{name}.oidp": s[2 * k],
                    f"score_{name}.didp": s[2 * k + 1],
                }
            )
        buf.clear()

    for r in _labelled_pairs(data, gt, revision):
        buf.append(r)
        if len(buf) == batch_size:
            flush()
    if buf:
        flush()
    if not rows:
        raise ValueError(f"{data}: no pair has a {gt} label of 0 or 1")
    mine = classification_table(pd.DataFrame(rows), gt, n_boot=n_boot, seed=seed)
    for r in mine.rows:
        r["kind"] = "evaluated"
    existing = classification_table(scores_df, gt, n_boot=n_boot, seed=seed)
    existing.rows = mine.rows + existing.rows
    existing.notes.insert(0, f"`{name}` scored {len(rows)} pairs here; the other rows come from the release.")
    if unreadable:
        shown = "; ".join(unreadable[:10]) + (f"; and {len(unreadable) - 10} more" if len(unreadable) > 10 else "")
        existing.notes.insert(1, f"{len(unreadable)} pair(s) not scored, an image does not decode: {shown}.")
    existing.failures = unreadable
    return existing
