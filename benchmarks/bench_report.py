"""Time `aas report` on a release (default: a fresh smoke build) and list what it wrote.

Run: python benchmarks/bench_report.py [RELEASE_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aas_dataset.analysis.report import build_report  # noqa: E402
from aas_dataset.catalog.recipes import load_recipe  # noqa: E402
from aas_dataset.engine.build import Builder  # noqa: E402


def main() -> None:
    if len(sys.argv) > 1:
        folder = Path(sys.argv[1])
    else:
        folder = Path(tempfile.mkdtemp()) / "smoke"
        t0 = time.perf_counter()
        Builder(load_recipe(ROOT / "builders" / "smoke.yaml"), folder).run()
        print(f"smoke build: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    res = build_report(folder)
    dt = time.perf_counter() - t0
    print(f"aas report: {dt:.1f} s for {len(res.files)} files (target <= 30 s), 1000 bootstrap resamples per cell")
    for f in res.files:
        print(f"  {f}")


if __name__ == "__main__":
    main()
