"""Pipeline overhead vs a bare loop over the same backends, and the no-op rebuild cost.

Prints ratios measured side by side in one run (rounds alternate A/B so machine noise hits
both). Run: python benchmarks/bench_pipeline.py [--captions 24] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aas_dataset import catalog  # noqa: E402
from aas_dataset.catalog.recipes import load_recipe  # noqa: E402
from aas_dataset.engine.build import Builder  # noqa: E402
from aas_dataset.engine.stages.generate import image_seed  # noqa: E402


def make_recipe(folder: Path, n: int, batch: int) -> Path:
    smoke = yaml.safe_load((ROOT / "builders" / "smoke.yaml").read_text())
    caps = (ROOT / "builders" / "captions" / "coco_style.txt").read_text().splitlines()
    caps = (caps * (n // len(caps) + 1))[:n]
    smoke.update(
        captions={"inline": [f"{c} ({i})" for i, c in enumerate(caps)]},
        generators=["tiny_sd"],
        scorers=["clip_tiny"],
        judges=[],
        batch_size=batch,
    )
    p = folder / "bench.yaml"
    p.write_text(yaml.safe_dump(smoke))
    return p


def bare_loop(recipe_path: Path) -> float:
    """The same work without the framework: load, generate both variants, score 4 combos."""
    rr = load_recipe(recipe_path)
    t0 = time.perf_counter()
    builder = Builder(rr, Path(tempfile.mkdtemp()))
    from aas_dataset.backends.text.template import TemplateRewriter  # noqa: F401
    from aas_dataset.engine.stages.prompts import sample_dimensions

    rw = rr.rewriter.instantiate()
    gen = catalog.resolve("generator", "tiny_sd").instantiate()
    gen.load()
    sc = catalog.resolve("scorer", "clip_tiny").instantiate()
    sc.load()
    caps = builder.captions()
    r = rr.recipe
    bs = r.batch_size
    for start in range(0, len(caps), bs):
        idx = range(start, min(start + bs, len(caps)))
        po = [caps[i] for i in idx]
        pa = [rw.rewrite(caps[i], sample_dimensions(r.seed, i, 2, 4)) for i in idx]
        prompts, seeds = [], []
        for i, a, b in zip(idx, po, pa, strict=True):
            prompts += [a, b]
            seeds += [image_seed(r.seed, "tiny_sd", i, "original"), image_seed(r.seed, "tiny_sd", i, "distorted")]
        ims = gen.generate(prompts, seeds)
        imgs, ps = [], []
        for k in range(len(idx)):
            io_, ia = ims[2 * k], ims[2 * k + 1]
            imgs += [io_, io_, ia, ia]
            ps += [po[k], pa[k], po[k], pa[k]]
        sc.score(imgs, ps)
    return time.perf_counter() - t0


def pipeline(recipe_path: Path) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp()) / "rel"
    t0 = time.perf_counter()
    report = Builder(load_recipe(recipe_path), out).run()
    cold = time.perf_counter() - t0
    assert not report.failures and report.model_calls > 0
    t1 = time.perf_counter()
    again = Builder(load_recipe(recipe_path), out).run()
    warm = time.perf_counter() - t1
    assert again.model_calls == 0
    shutil.rmtree(out.parent)
    return cold, warm


def cli_rebuild(recipe_path: Path) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp()) / "rel"
    cmd = [sys.executable, "-m", "aas_dataset", "build", str(recipe_path), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    cold = time.perf_counter() - t0
    t1 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    warm = time.perf_counter() - t1
    shutil.rmtree(out.parent)
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    recipe = make_recipe(tmp, args.captions, args.batch)
    bare_t, pipe_t, warm_t = [], [], []
    bare_loop(recipe)  # warm-up: imports and first-call costs hit neither side
    for _ in range(args.rounds):
        bare_t.append(bare_loop(recipe))
        cold, warm = pipeline(recipe)
        pipe_t.append(cold)
        warm_t.append(warm)
    cli_cold, cli_warm = cli_rebuild(recipe)
    b, p, w = statistics.median(bare_t), statistics.median(pipe_t), statistics.median(warm_t)
    n_img = args.captions * 2
    print(f"{args.captions} prompt pairs x 1 generator (tiny_sd) + 1 scorer (clip_tiny), batch {args.batch}")
    print(f"bare loop     : {b:7.2f} s  ({n_img / b:6.2f} images/s)")
    print(f"aas pipeline  : {p:7.2f} s  ({n_img / p:6.2f} images/s)  store + PNG + Parquet + card included")
    print(f"throughput ratio pipeline / bare : {b / p:.3f}   (target >= 0.90)")
    print(f"no-op rebuild (in-process)       : {w:.3f} s = {w / p:.3%} of cold")
    print(f"no-op rebuild (CLI, new process) : {cli_warm:.3f} s = {cli_warm / cli_cold:.3%} of cold {cli_cold:.2f} s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
