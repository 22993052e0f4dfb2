"""Ingest + hashing of N outside images against a bare PIL loop over the same files.

Ours: what a build does with a source folder of real photographs: list it and hash every file
(`list_source`, at plan time), then ingest each one (`IngestStage.run_batch`: the path checks,
the file read and re-hashed, the decode with its checks, EXIF and mode handling, the bytes to
store). Bare: `Image.open(path).convert("RGB")` and a PNG encode per file, the least a careful
script does. Two sources, printed side by side with the bare/ours speed ratio (target >= 0.8):
RGB JPEGs as AVA holds them, and RGBA PNGs that ingest must convert.

Run: python benchmarks/bench_ingest.py [--n 2000] [--size 1024]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_images(folder: Path, n: int, size: int, kind: str) -> None:
    """Photograph-like files: smooth gradients with grain (JPEG ~150 KB at 1024²)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(n):
        a, b, c = rng.uniform(0, 255, 3)
        base = np.stack([a * xx + 40 * yy, b * yy + 30 * xx, c * (1 - xx)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(pixels)
        if kind == "jpeg":
            im.save(folder / f"{i:06d}.jpg", quality=90)
        else:
            im = im.convert("RGBA")
            im.putalpha(200)
            im.save(folder / f"{i:06d}.png", compress_level=1)


def bare(folder: Path) -> float:
    from PIL import Image

    t = time.perf_counter()
    for p in sorted(folder.iterdir()):
        buf = io.BytesIO()
        Image.open(p).convert("RGB").save(buf, format="PNG")
    return time.perf_counter() - t


def ours(folder: Path) -> float:
    from aas_dataset.engine.stages.references import IngestStage, list_source
    from aas_dataset.engine.store import Store
    from aas_dataset.spec.references import ImageSource

    t = time.perf_counter()
    root, items = list_source(ImageSource(folder=str(folder)), Path("/"))
    stage, store = IngestStage(), Store(folder.parent / f"{folder.name}.store")
    units = stage.units("bench", root, items)
    for i in range(0, len(units), 64):
        batch = units[i : i + 64]
        for u, res in zip(batch, stage.run_batch(None, batch, store), strict=True):
            if isinstance(res, BaseException):
                raise res
            store.write(stage.name, u.key, res)  # stored as a build stores it
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=1024)
    a = ap.parse_args()
    print(f"{a.n} images of {a.size}²: ingest + hashing (ours) vs open/convert/PNG-encode (bare)")
    print(f"{'source':<22}{'bare s':>10}{'ours s':>10}{'bare/ours':>12}")
    with tempfile.TemporaryDirectory(prefix="aas-bench-ingest-") as d:
        for kind, label in (("jpeg", "RGB JPEG (AVA-like)"), ("rgba", "RGBA PNG (converted)")):
            folder = Path(d) / kind
            make_images(folder, a.n, a.size, kind)
            b = bare(folder)
            o = ours(folder)
            print(f"{label:<22}{b:>10.1f}{o:>10.1f}{b / o:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
