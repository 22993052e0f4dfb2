"""Scale-out and release costs, printed side by side in one run:

1. 2 worker processes vs 1 on the tiny generator (the same units; target >= 1.6x on 2 cores);
2. the Ray executor (a local cluster, started before timing) vs the local executor on the same
   units (target: overhead <= 10 %); the cluster's start is printed apart;
3. `aas release` to the loopback Hub and reading every file back at the tag vs a plain copy of
   the same bytes.

Run: python benchmarks/bench_scale.py [--pairs 16] [--batch 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
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


def recipe(folder: Path, n: int, batch: int) -> Path:
    caps = (ROOT / "builders" / "captions" / "coco_style.txt").read_text().splitlines()
    data = {
        "name": "bench_scale",
        "seed": 1,
        "captions": {"inline": (caps * (n // len(caps) + 1))[:n]},
        "rewriter": "template",
        "generators": ["tiny_sd"],
        "batch_size": batch,
    }
    path = folder / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def timed_build(r: Path, out: Path, **kw) -> float:
    t = time.perf_counter()
    report = Builder(load_recipe(r), out).run(**kw)
    assert not report.failures
    return time.perf_counter() - t


_READ = """
import sys, json
from huggingface_hub import hf_hub_download
m = json.load(open(hf_hub_download("org/bench", "MANIFEST.json", repo_type="dataset", revision="v1.0.0")))
for p in m["files"]:
    hf_hub_download("org/bench", p, repo_type="dataset", revision="v1.0.0")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="aas-bench-scale-") as d:
        d = Path(d)
        r = recipe(d, a.pairs, a.batch)
        Builder(load_recipe(r), d / "warm").run()  # imports and first-load costs out of the timings
        one = timed_build(r, d / "w1")
        two = timed_build(r, d / "w2", workers=2)
        print(f"{a.pairs} pairs on tiny_sd, batch {a.batch}")
        print(f"{'':<34}{'s':>8}{'ratio':>9}")
        print(f"{'1 worker':<34}{one:>8.1f}")
        print(f"{'2 workers':<34}{two:>8.1f}{one / two:>9.2f}  (target >= 1.6)")

        import ray

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        started = time.perf_counter() - t
        try:
            local = timed_build(r, d / "local")
            on_ray = timed_build(r, d / "ray", workers=1, executor="ray")
        finally:
            ray.shutdown()
        print(f"{'local executor':<34}{local:>8.1f}")
        note = f"(target <= 1.10; cluster start {started:.1f} s)"
        print(f"{'Ray executor (1 task)':<34}{on_ray:>8.1f}{on_ray / local:>9.2f}  {note}")

        from aas_dataset.testing.fake_hub import FakeHubServer

        folder = d / "w1"
        t = time.perf_counter()
        shutil.copytree(folder, d / "copy", ignore=shutil.ignore_patterns(".aas"))
        copy = time.perf_counter() - t
        with FakeHubServer() as hub:
            env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_bench_0000", "HF_HOME": str(d / "hf")}
            t = time.perf_counter()
            cmd = [
                sys.executable,
                "-m",
                "aas_dataset",
                "release",
                str(folder),
                "--repo-id",
                "org/bench",
                "--tag",
                "v1.0.0",
            ]
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
            subprocess.run([sys.executable, "-c", _READ], cwd=ROOT, env=env, check=True, capture_output=True)
            hub_s = time.perf_counter() - t
        print(f"{'plain copy of the release':<34}{copy:>8.2f}")
        ratio = hub_s / max(copy, 1e-9)
        print(f"{'release + read back (loopback)':<34}{hub_s:>8.2f}{ratio:>9.1f}  (two CLI processes included)")


if __name__ == "__main__":
    main()
