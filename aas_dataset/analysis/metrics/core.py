"""Table cells with bootstrap intervals, tables and their renderings, and reading a config.

Every cell's interval comes from a seeded percentile bootstrap over rows (scipy), with the
seed derived from (seed, table, row, column) so a cell does not depend on evaluation order.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aas_dataset.util import derive_seed

N_BOOT = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Cell:
    value: float
    lo: float | None = None
    hi: float | None = None

    def fmt(self, digits: int = 3) -> str:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return "–"
        s = f"{self.value:.{digits}f}"
        if self.lo is not None and self.hi is not None and not math.isnan(self.lo):
            s += f" [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"
        return s


def bootstrap_cell(
    stat: Callable[[np.ndarray], float],
    n: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    key: tuple = (),
    vectorized: bool = False,
) -> Cell:
    """`stat(row_indices) -> float`, evaluated on all rows and on bootstrap resamples of them.

    `vectorized=True`: `stat` takes a 2-D array of row indices (one resample per row) and
    returns one value per resample, so the 1000 resamples are one array operation; the draws
    (hence the interval) are the same as the per-resample form's."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    idx = np.arange(n)
    if not n:
        return Cell(float("nan"))
    with np.errstate(all="ignore"):
        value = float(stat(idx[None, :])[0]) if vectorized else float(stat(idx))
    if n < 2 or n_boot <= 0 or math.isnan(value):
        return Cell(value)

    def many(sample: np.ndarray, axis: int = -1) -> np.ndarray:
        sample = np.asarray(sample, dtype=np.int64)
        flat = sample.reshape(-1, n)
        out = stat(flat) if vectorized else np.array([stat(row) for row in flat])
        return np.asarray(out, dtype=np.float64).reshape(sample.shape[:-1])

    rng = np.random.default_rng(derive_seed(seed, *key))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # a constant statistic (every resample agrees) is a point interval, not a problem to report
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(
            (idx,),
            many,
            vectorized=True,
            n_resamples=n_boot,
            method="percentile",
            confidence_level=LEVEL,
            rng=rng,
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Cell(value, lo, hi)


def mean_cell(values, *, n_boot: int = N_BOOT, seed: int = 0, key: tuple = ()) -> Cell:
    """The mean of `values` with its seeded percentile interval, resampled as one array
    operation: the same resamples (scipy draws the same indices whatever the data), hence the
    same interval, as `bootstrap_cell` with `v[i].mean()`, without a Python call per resample."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    value = float(v.mean()) if n else float("nan")
    if n < 2 or n_boot <= 0 or math.isnan(value):
        return Cell(value)
    rng = np.random.default_rng(derive_seed(seed, *key))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # a constant statistic (every resample agrees) is a point interval, not a problem to report
        warnings.simplefilter("ignore", DegenerateDataWarning)
        res = bootstrap(
            (v,),
            np.mean,
            vectorized=True,
            n_resamples=n_boot,
            method="percentile",
            confidence_level=LEVEL,
            rng=rng,
        )
    return Cell(value, float(res.confidence_interval.low), float(res.confidence_interval.high))


@dataclass
class Table:
    name: str  # file stem: generators, reward_models, ...
    title: str
    key: list[str]  # label columns
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # rows that could not be used, named
    published: dict[tuple[str, str], float] = field(default_factory=dict)  # (row label, column) -> the paper's
    published_sources: set[str] = field(default_factory=set)

    def row_label(self, row: dict) -> str:
        """A row's key values joined by " / " (how published values and the long CSV name rows)."""
        return " / ".join(str(row.get(k)) for k in self.key)

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            cols += [c for c in r if c not in cols]
        return cols

    def to_markdown(self, digits: int = 3, names: dict[str, str] | None = None) -> str:
        """`names`: display names (model and scorer names to the paper's, e.g. hpsv3 -> HPSv3),
        applied to the headers and the row labels of this rendering only (csv / json keep ours)."""
        cols = self.columns
        shown = [display_header(c, names) for c in cols]
        lines = [f"### {self.title}", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            cells = [r[c].fmt(digits) if isinstance(r.get(c), Cell) else _plain(r.get(c)) for c in cols]
            label = self.row_label(r)
            cells = [
                f"{x} (paper {_plain(self.published[label, c])})" if (label, c) in self.published else x
                for c, x in zip(cols, cells, strict=True)
            ]
            if names:
                cells = [names.get(x, x) if c in self.key else x for c, x in zip(cols, cells, strict=True)]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + [f"- {n}" for n in self.notes]
        if self.published:
            lines.append("- (paper x): the published value, from " + "; ".join(sorted(self.published_sources)) + ".")
        return "\n".join(lines).rstrip() + "\n"

    def records(self) -> list[dict]:
        """Flat rows: a cell becomes `col`, `col_lo`, `col_hi` (and `col_paper` with a published value)."""
        out = []
        for r in self.rows:
            flat = {}
            for c in self.columns:
                v = r.get(c)
                if isinstance(v, Cell):
                    flat[c], flat[f"{c}_lo"], flat[f"{c}_hi"] = v.value, v.lo, v.hi
                else:
                    flat[c] = v
                if (self.row_label(r), c) in self.published:
                    flat[f"{c}_paper"] = self.published[self.row_label(r), c]
            out.append(flat)
        return out

    def to_pandas(self):
        """The table as a DataFrame (a cell's value, `_lo` and `_hi` as columns)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def to_csv(self) -> str:
        recs = self.records()
        buf = io.StringIO()
        if recs:
            # every row's fields, in first-seen order: a column may hold a cell only in later rows
            fields = list(dict.fromkeys(k for r in recs for k in r))
            w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            w.writerows(recs)
        return buf.getvalue()

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "title": self.title, "notes": self.notes, "rows": self.records()},
            indent=2,
            allow_nan=True,
            default=_json_default,
        )

    def cell(self, row_key: str, column: str) -> Cell:
        for r in self.rows:
            if r[self.key[0]] == row_key:
                return r[column]
        raise KeyError(row_key)


def display_header(col: str, names: dict[str, str] | None) -> str:
    """A column header with the model / scorer name in it replaced by its display name; the
    paper writes the delta sign against the name (ΔHPSv3, J AA)."""
    if not names:
        return col
    if col in names:  # a heading the paper abbreviates (Δ image_reward -> ΔImgRwd)
        return names[col]
    for prefix in ("ΔJ ", "J AA ", "J_s ", "Δ ", "bias "):
        if col.startswith(prefix) and col[len(prefix) :] in names:
            shown = names[col[len(prefix) :]]
            if prefix in ("ΔJ ", "J AA ", "J_s ") and shown.startswith("J"):
                return prefix.rstrip()  # the paper's J columns name no rater
            sep = "" if prefix == "Δ " else " "
            return prefix.rstrip() + sep + shown
    for suffix in (" AA", " match"):
        if col.endswith(suffix) and col[: -len(suffix)] in names:
            return names[col[: -len(suffix)]] + suffix
    return names.get(col, col)


def _plain(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return str(v)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def read_frame(folder: Path, config: str = "scores", without: tuple[str, ...] = ()):
    """A release config as a flat pandas DataFrame (`score_x.oiop`, `rater_j.original`, ...),
    without the columns named in `without` (e.g. images)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aas_dataset.release.manifest import read_manifest

    m = read_manifest(folder)
    files = sorted(p for p, f in m["files"].items() if f.get("config") == config)
    if not files:
        raise FileNotFoundError(f"{folder}: the release has no {config!r} config")
    cols = [n for n in pq.read_schema(Path(folder) / files[0]).names if n not in without]
    tables = [pq.read_table(Path(folder) / p, columns=cols) for p in files]
    table = pa.concat_tables(tables).flatten()
    return table.to_pandas()
