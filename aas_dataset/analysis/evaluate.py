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


class _FunctionScorer:
    """A plain function `f(images, prompts) -> scores` used as a scorer."""

    def __init__(self, fn):
        self.fn, self.name = fn, getattr(fn, "__name__", "scorer")

    def score(self, images, prompts):
        return self.fn(images, prompts)


def resolve_scorer(spec, settings: dict | None = None):
    """An object with `.score`, a function `f(images, prompts)`, a catalog scorer name (with
    setting overrides), or `module:Class` / `module:function` (a class is constructed without
    arguments)."""
    if hasattr(spec, "score"):
        return spec, getattr(spec, "name", type(spec).__name__)
    if callable(spec) and not isinstance(spec, type):
        f = _FunctionScorer(spec)
        return f, f.name
    from aas_dataset.catalog import resolve, role_problem
    from aas_dataset.spec.recipe import Entry

    if ":" in spec:
        module, _, attr = spec.partition(":")
        if role_problem("scorer", spec) is None:  # a Scorer of the user's: its settings apply
            obj = resolve("scorer", attr, settings, extra={attr: Entry(kind=spec)}).instantiate()
        else:  # any object with score(images, prompts), or a function
            target = getattr(importlib.import_module(module), attr)
            obj = target() if isinstance(target, type) else _FunctionScorer(target)
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


def _release_info(data, revision: str | None) -> tuple[dict | None, pd.DataFrame]:
    """The release's MANIFEST (a local folder's; None from the Hub) and its `scores` frame."""
    folder = Path(str(data))
    if folder.exists():
        return read_manifest(folder), read_frame(folder, "scores")
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
    out: str | Path | None = None,
    progress=None,
) -> Table:
    """Score r(I_o, p_a) and r(I_a, p_a) on every pair the ground-truth judge did not tie, and
    return the reward-model table with this scorer's row first (kind `evaluated`).

    `out`: a folder for the run: per-pair scores are saved batch by batch (`pairs/part-*.parquet`,
    each written whole), so a run of hours killed at any point resumes from them, and at the end
    `scores.parquet` and the table (md, csv, json) are written there. `progress(done, total)` is
    called after each batch."""
    obj, name = resolve_scorer(scorer, settings)
    manifest, scores_df = _release_info(data, revision)
    gt_release = (manifest or {}).get("recipe", {}).get("ground_truth")
    gt = ground_truth or gt_release or next((c[6:] for c in scores_df.columns if c.startswith("label_")), None)
    if gt is None:
        raise ValueError(f"{data}: the release has no judge labels to evaluate against")
    saved = _SavedScores(Path(out), name, gt) if out else None
    rows = saved.rows() if saved else []
    done = {(r["model"], r["index"]) for r in rows}
    total = int(scores_df[f"label_{gt}"].isin([0, 1]).sum()) if f"label_{gt}" in scores_df else 0
    if progress:
        progress(len(done), total)
    buf, unreadable = [], []

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
        batch = [
            {
                "model": r["model"],
                "index": r["index"],
                f"label_{gt}": r[f"label_{gt}"],
                f"score_{name}.oidp": float(s[2 * k]),
                f"score_{name}.didp": float(s[2 * k + 1]),
            }
            for k, r in enumerate(buf)
        ]
        if saved:
            saved.add(batch)  # on disk before the next batch starts
        rows.extend(batch)
        buf.clear()
        if progress:
            progress(len(rows), total)

    for r in _labelled_pairs(data, gt, revision):
        if (r["model"], r["index"]) in done:  # scored by an earlier run of this folder
            continue
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
    if manifest is not None and gt == gt_release:  # the paper's values beside the release's own rows
        from aas_dataset.analysis.published import attach_published, models_in_columns

        attach_published([existing], manifest, set(scores_df["model"]) | models_in_columns(scores_df.columns))
        existing.published = {k: v for k, v in existing.published.items() if k[0] != name}  # not your model's row
        if not existing.published:
            existing.published_sources.clear()
    if saved:
        saved.finish(existing)
    return existing


class _SavedScores:
    """Per-pair scores of an eval-reward run, one Parquet part per batch (written to a temporary
    name and renamed: a kill never leaves half a part), and the final outputs."""

    def __init__(self, folder: Path, scorer: str, gt: str):
        self.folder, self.scorer, self.gt = folder, scorer, gt
        (folder / "pairs").mkdir(parents=True, exist_ok=True)
        meta = folder / "run.json"
        want = {"scorer": scorer, "ground_truth": gt}
        import json

        if meta.is_file() and json.loads(meta.read_text()) != want:
            raise ValueError(
                f"{folder} holds a run of {json.loads(meta.read_text())}, not of {want}: use another --out"
            )
        meta.write_text(json.dumps(want))

    def rows(self) -> list[dict]:
        import pyarrow.parquet as pq

        out = []
        for p in sorted((self.folder / "pairs").glob("part-*.parquet")):
            out += pq.read_table(p).to_pylist()
        return out

    def add(self, batch: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(list((self.folder / "pairs").glob("part-*.parquet")))
        final = self.folder / "pairs" / f"part-{n:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(batch), tmp)
        tmp.replace(final)

    def finish(self, table: Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from aas_dataset.util import write_bytes_atomic

        rows = self.rows()
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), self.folder / "scores.parquet")
        for ext, text in (("md", table.to_markdown()), ("csv", table.to_csv()), ("json", table.to_json())):
            write_bytes_atomic(self.folder / f"table.{ext}", text.encode())
