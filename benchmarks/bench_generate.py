"""Generation throughput on a tiny random-weight pipeline of a catalog class.

Prints, side by side in one run (rounds alternate so machine noise hits every arm):
  1. batch 4 vs batch 1 pairs per call through the `diffusers` backend (images/s ratio);
  2. the generate stage of `aas` (executor, store, PNG encoding, resume markers) vs a bare
     diffusers loop doing the same images with the same per-image generators (target >= 0.95).

Run: python benchmarks/bench_generate.py [--pipeline FluxPipeline] [--pairs 16] [--rounds 3] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from aas_dataset.catalog.recipes import load_recipe  # noqa: E402
from aas_dataset.engine.build import Builder  # noqa: E402
from aas_dataset.engine.executors import LocalExecutor  # noqa: E402
from tests.tiny_pipelines import save_tiny_pipeline  # noqa: E402


def recipe(folder: Path, ckpt: Path, pipeline: str, n: int, batch: int, size: int) -> Path:
    smoke = yaml.safe_load((ROOT / "builders" / "smoke.yaml").read_text())
    caps = (ROOT / "builders" / "captions" / "coco_style.txt").read_text().splitlines()
    caps = (caps * (n // len(caps) + 1))[:n]
    entry = {
        "kind": "diffusers",
        "model_id": str(ckpt),
        "settings": {
            "pipeline": pipeline,
            "dtype": "float32",
            "device": "cpu",
            "steps": 4,
            "guidance": 3.5,
            "width": size,
            "height": size,
        },
    }
    smoke.update(
        captions={"inline": [f"{c} ({i})" for i, c in enumerate(caps)]},
        catalog={"generators": {"g": entry}},
        generators=["g"],
        scorers=[],
        judges=[],
        comparisons=[],
        ground_truth=None,
        negative_writer=None,
        batch_size=batch,
    )
    p = folder / f"bench_{batch}.yaml"
    p.write_text(yaml.safe_dump(smoke))
    return p


RELEASE: list[float] = []


def stage_run(path: Path) -> tuple[float, int]:
    """Prompts untimed, then the generate stage as a build runs it (model load excluded)."""
    out = Path(tempfile.mkdtemp())
    b = Builder(load_recipe(path), out)
    plan = b.plan()
    ex = LocalExecutor(b.store, b.recipe.recipe.batch_size)
    ex.run(plan[0].stage, plan[0].units, plan[0].models)
    gen = plan[2]
    model = next(iter(gen.models.values()))
    backend = model.instantiate()
    backend.load()
    backend.load = lambda: None  # the timed part reuses the loaded pipeline (as the bare loop)
    close, backend.close = backend.close, lambda: None  # memory release: once per model, timed apart
    object.__setattr__(model, "instantiate", lambda: backend)
    t0 = time.perf_counter()
    stats = ex.run(gen.stage, gen.units, gen.models)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    close()
    RELEASE.append(time.perf_counter() - t1)
    assert stats.ok == len(gen.units), stats.failures
    shutil.rmtree(out, ignore_errors=True)
    return dt, 2 * stats.ok


def bare_loop(path: Path, batch: int) -> tuple[float, int]:
    """The same images without aas: prompts from the same recipe, a plain pipeline call per
    batch with one CPU generator per image, PNG-encoded in memory (as any writer would)."""
    import io

    import diffusers
    import torch

    out = Path(tempfile.mkdtemp())
    b = Builder(load_recipe(path), out)
    plan = b.plan()
    LocalExecutor(b.store, batch).run(plan[0].stage, plan[0].units, plan[0].models)
    g = plan[2].units
    metas = [b.store.read_json("prompts", u.payload["prompt_key"]) for u in g]
    spec = next(iter(plan[2].models.values()))
    s = spec.settings
    pipe = getattr(diffusers, s.pipeline).from_pretrained(spec.entry.model_id, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(g), batch):
        units, ms = g[i : i + batch], metas[i : i + batch]
        prompts = [p for m in ms for p in (m["prompt_original"], m["prompt_distorted"])]
        seeds = [u.payload["seeds"][v] for u in units for v in ("original", "distorted")]
        gens = [torch.Generator("cpu").manual_seed(x) for x in seeds]
        images = pipe(
            prompt=prompts,
            generator=gens,
            num_inference_steps=s.steps,
            guidance_scale=s.guidance,
            width=s.width,
            height=s.height,
        ).images
        for im in images:
            im.convert("RGB").save(io.BytesIO(), format="PNG")
        n += len(images)
    dt = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return dt, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", default="FluxPipeline")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    ckpt = save_tiny_pipeline(a.pipeline, work / "ckpt")
    r1 = recipe(work, ckpt, a.pipeline, a.pairs, 1, a.size)
    r4 = recipe(work, ckpt, a.pipeline, a.pairs, 4, a.size)
    rates: dict[str, list[float]] = {"aas batch 1": [], "aas batch 4": [], "bare batch 4": []}
    for _ in range(a.rounds):
        for name, fn in (
            ("aas batch 1", lambda: stage_run(r1)),
            ("aas batch 4", lambda: stage_run(r4)),
            ("bare batch 4", lambda: bare_loop(r4, 4)),
        ):
            dt, n = fn()
            rates[name].append(n / dt)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"tiny {a.pipeline}, {a.pairs} pairs ({2 * a.pairs} images) at {a.size}², 4 steps, {a.rounds} rounds")
    for k, v in med.items():
        print(f"  {k:<13} {v:7.2f} images/s   (rounds: {', '.join(f'{x:.2f}' for x in rates[k])})")
    print(f"batch 4 / batch 1 through aas:        {med['aas batch 4'] / med['aas batch 1']:.2f}x")
    print(f"aas / bare diffusers loop (batch 4):  {med['aas batch 4'] / med['bare batch 4']:.3f}  (target >= 0.95)")
    print(f"memory release between models (gc + cache flush), once per model: {statistics.median(RELEASE):.2f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
