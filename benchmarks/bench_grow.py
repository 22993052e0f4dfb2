"""Starting a build from a release (`aas build --from`) vs recomputing it, with tiny models.

Builds a release of N pairs (N/2 captions x tiny_sd, tiny_sd_euler; tiny CLIP, pixel-statistics
judge), then on an empty store: the same recipe `--from` that release (hydrate + assemble, no
model work). Prints side by side: wall time of the build from scratch vs from the release (and
the ratio), and the hydrate rate in rows/s vs a plain copy of the release files.

Run: python benchmarks/bench_grow.py [--rows 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from aas_dataset.catalog.recipes import load_recipe  # noqa: E402
from aas_dataset.engine.build import Builder  # noqa: E402
from aas_dataset.engine.hydrate import hydrate  # noqa: E402
from aas_dataset.engine.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    a = ap.parse_args()
    n = a.rows // 2
    caps = (ROOT / "builders" / "captions" / "coco_style.txt").read_text().splitlines()
    with tempfile.TemporaryDirectory(prefix="aas-bench-grow-") as d:
        d = Path(d)
        recipe = d / "r.yaml"
        recipe.write_text(
            yaml.safe_dump(
                {
                    "name": "bench_grow",
                    "seed": 3,
                    "captions": {"inline": [f"{caps[i % len(caps)]} ({i})" for i in range(n)]},
                    "rewriter": "template",
                    "generators": ["tiny_sd", "tiny_sd_euler"],
                    "judges": ["image_stats"],
                    "scorers": ["clip_tiny"],
                    "batch_size": 16,
                }
            )
        )
        t = time.perf_counter()
        Builder(load_recipe(recipe), d / "built").run()
        scratch = time.perf_counter() - t
        release = d / "release"
        t = time.perf_counter()
        shutil.copytree(d / "built", release, ignore=shutil.ignore_patterns(".aas"))
        copy = time.perf_counter() - t

        t = time.perf_counter()
        h = hydrate(Store(d / "hydrated" / "store"), release, "bench")
        hydrate_s = time.perf_counter() - t
        t = time.perf_counter()
        report = Builder(load_recipe(recipe), d / "grown").run(base=release)
        grown = time.perf_counter() - t
        assert report.model_calls == 0, "every unit should come from the release"
        rows = a.rows
        print(f"{rows} pairs (tiny_sd + tiny_sd_euler, 64²), {h.written} units in the release's records")
        print(f"{'':<36}{'s':>8}{'ratio':>9}")
        print(f"{'build from scratch':<36}{scratch:>8.1f}")
        print(f"{'build --from the release':<36}{grown:>8.1f}{scratch / grown:>9.1f}x faster")
        print(f"{'hydrate alone':<36}{hydrate_s:>8.2f}  {rows / hydrate_s:>9.0f} rows/s")
        print(f"{'plain copy of the release files':<36}{copy:>8.2f}  {rows / copy:>9.0f} rows/s")


if __name__ == "__main__":
    main()
