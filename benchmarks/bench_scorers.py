"""Batch 32 vs batch 1 throughput of the CLIP-family scorers on tiny weights, side by side.

Run: python benchmarks/bench_scorers.py [--images 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from aas_dataset import catalog  # noqa: E402

SCORERS = [
    ("clip_tiny", {}),
    ("pickscore", {"tiny": True}),
    ("blip_itm_large", {"tiny": True}),
    ("hpsv2_1", {"tiny": True, "architecture": "tiny", "checkpoint": None}),
    ("hps_v1", {"tiny": True, "architecture": "tiny"}),
    ("image_reward", {"tiny": True}),
]


def rate(scorer, images, prompts, batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        scorer.score(images[i : i + batch], prompts[i : i + batch])
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=128)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(a.images)]
    prompts = [f"a photo number {i}, dark and blurred, with an empty background" for i in range(a.images)]
    for name, settings in SCORERS:
        s = catalog.resolve("scorer", name, settings).instantiate()
        s.load()
        rate(s, images[:8], prompts[:8], 8)  # warm-up
        one, many = [], []
        for _ in range(2):  # alternate so machine noise hits both
            one.append(rate(s, images, prompts, 1))
            many.append(rate(s, images, prompts, 32))
        r1, r32 = max(one), max(many)
        print(
            f"{name:<16} batch 1: {r1:7.1f} img/s   batch 32: {r32:7.1f} img/s   ratio {r32 / r1:5.1f}x (target >= 3x)"
        )


if __name__ == "__main__":
    main()
