"""The answers of `aas annotate` (analysis/annotate.py): the pairs to show, each rater's order
and image sides, and the SQLite store. No web framework here: `aas report` reads the answers.

`aas annotate` is a local web app in which people judge the pairs of a release, the human
check of the LLM judge.

A rater sees both images of a pair in a random order (seeded per rater and pair, recorded with
the answer) and p_a, and picks the image that follows p_a better, or a tie (keys A / L / T or
the arrow keys). Each answer is committed to SQLite (WAL, synchronous FULL) before the next
pair is shown, one row per rater and pair: a crash or a kill loses nothing, and the next start
resumes where each rater stopped. Several raters share one server; each picks a name. `blind`
hides model names and judge labels. The app listens on 127.0.0.1 unless told otherwise, and
then only with a token (`AAS_ANNOTATE_TOKEN`), sent once as `?token=` and kept in a cookie.
Every text shown is escaped.

Answers live in `<release>/annotations/answers.sqlite`, beside the release and outside its
files (verify and release ignore the folder); `aas report` adds the agreement tables when it
exists (`analysis.metrics.agreement`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aas_dataset.util import derive_seed

ANSWERS = Path("annotations") / "answers.sqlite"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CHOICES = {"left": 0, "right": 1, "tie": -1}  # position of the chosen image; -1 tie


@dataclass(frozen=True)
class Pair:
    model: str
    index: int
    prompt_distorted: str
    labels: dict  # judge -> label, shown when not blind
    where: tuple[str, int, int]  # (shard, row group, row in it): images are read on demand

    @property
    def pid(self) -> str:
        return f"{self.model}:{self.index}"


def read_pairs(folder: Path) -> list[Pair]:
    """Every pair of the release's `pairs` config, without loading an image."""
    import pyarrow.parquet as pq

    from aas_dataset.release.manifest import read_manifest

    m = read_manifest(folder)
    out = []
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == "pairs"):
        pf = pq.ParquetFile(folder / rel)
        cols = [
            c for c in pf.schema_arrow.names if c in ("model", "index", "prompt_distorted") or c.startswith("label_")
        ]
        for rg in range(pf.num_row_groups):
            for i, r in enumerate(pf.read_row_group(rg, columns=cols).to_pylist()):
                labels = {k[len("label_") :]: v for k, v in r.items() if k.startswith("label_")}
                out.append(Pair(r["model"], r["index"], r["prompt_distorted"], labels, (rel, rg, i)))
    if not out:
        raise ValueError(f"{folder}: the release has no pairs to annotate")
    return out


class Answers:
    """The SQLite store: one row per (rater, pair), committed at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS answers (rater TEXT NOT NULL, model TEXT NOT NULL, idx INTEGER NOT NULL, "
                "label INTEGER NOT NULL, shown_first TEXT NOT NULL, answered_at REAL NOT NULL, "
                "PRIMARY KEY (rater, model, idx))"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def put(self, rater: str, pair: Pair, label: int, shown_first: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO answers VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rater, model, idx) DO UPDATE SET "
                "label = excluded.label, shown_first = excluded.shown_first, answered_at = excluded.answered_at",
                (rater, pair.model, pair.index, label, shown_first, time.time()),
            )

    def done(self, rater: str) -> set[str]:
        with self._connect() as db:
            return {f"{m}:{i}" for m, i in db.execute("SELECT model, idx FROM answers WHERE rater = ?", (rater,))}

    def all(self) -> list[tuple[str, str, int, int]]:
        """(rater, model, index, label) of every answer; label 0 = I_o, 1 = I_a, -1 = tie."""
        with self._connect() as db:
            return list(db.execute("SELECT rater, model, idx, label FROM answers ORDER BY rater, model, idx"))


def order_for(rater: str, pairs: list[Pair], seed: int) -> list[Pair]:
    rng = np.random.default_rng(derive_seed(seed, "annotate", rater))
    return [pairs[i] for i in rng.permutation(len(pairs))]


def shown_first(rater: str, pair: Pair, seed: int) -> str:
    """Which image this rater sees on the left for this pair: "original" or "distorted"."""
    return "original" if derive_seed(seed, "annotate-side", rater, pair.pid) % 2 == 0 else "distorted"


def label_of(choice: str, first: str) -> int:
    """The chosen position -> 0 (I_o) / 1 (I_a) / -1 (tie)."""
    pos = CHOICES[choice]
    if pos == -1:
        return -1
    left_is_original = first == "original"
    return (0 if left_is_original else 1) if pos == 0 else (1 if left_is_original else 0)
