"""Peak memory of import-hf, verify and export-webdataset at N and 4N rows of 512x512 pairs.

Each command runs in its own process on a source in the published benchmark layout (one
Parquet file, row groups of 100 rows as `datasets` writes image data), and its peak RSS is read
from the kernel. Printed side by side with the 4N / N ratio per command (target <= 1.2: memory
flat in dataset size).

Run: python benchmarks/bench_memory.py [--rows 150] [--size 512]
(offline: AAS_AUTHORS_DIR=<a copy of weathon/AAS> or AAS_OFFICIAL_CACHE for the effect texts)
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("flux_dev", "dance_flux", "stable_diffusion_3.5_medium", "sd3_medium_grpo", "sd3.5_large")


def noise_png(seed: int, size: int) -> bytes:
    """Incompressible pixels, so a PNG weighs what a photograph of that size does."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_source(folder: Path, rows: int, size: int) -> None:
    """Run in its own process (`--write-source`): a child forked from a large parent would
    start with the parent's pages counted in its peak."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.helpers import PUBLISHED, published_row

    pool = [noise_png(s, size) for s in range(16)]
    rng = np.random.default_rng(0)
    per_model = -(-rows // len(MODELS))
    folder.mkdir(parents=True)
    with pq.ParquetWriter(folder / "train-00000-of-00001.parquet", PUBLISHED) as w:
        batch = []
        for k in range(rows):
            row = published_row(MODELS[k // per_model], k % per_model, rng)
            row["image_original"] = {"bytes": pool[(2 * k) % 16], "path": None}
            row["image_distorted"] = {"bytes": pool[(2 * k + 1) % 16], "path": None}
            batch.append(row)
            if len(batch) == 100:
                w.write_table(pa.Table.from_pylist(batch, schema=PUBLISHED), row_group_size=100)
                batch = []
        if batch:
            w.write_table(pa.Table.from_pylist(batch, schema=PUBLISHED), row_group_size=100)


def peak_mib(args: list[str]) -> float:
    """Peak RSS of one `aas` command in a fresh process, from the kernel's rusage of that child."""
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "aas_dataset", *args], stdout=log, stderr=log, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            raise SystemExit(f"aas {' '.join(args)} failed:\n{log.read()}")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=150)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--write-source", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.write_source:
        return write_source(a.write_source, a.rows, a.size)
    authors = os.environ.get("AAS_AUTHORS_DIR")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (a.rows, 4 * a.rows):
            src = Path(tmp) / f"src{n}"
            write = [sys.executable, __file__, "--write-source", str(src / "data"), "--rows", str(n)]
            subprocess.run([*write, "--size", str(a.size)], check=True)
            out = Path(tmp) / f"rel{n}"
            extra = ["--official-dir", authors] if authors else []
            results.setdefault("import-hf", []).append(peak_mib(["import-hf", str(src), "--out", str(out), *extra]))
            results.setdefault("verify", []).append(peak_mib(["verify", str(out)]))
            results.setdefault("export-webdataset", []).append(peak_mib(["export-webdataset", str(out)]))
    print(f"peak RSS (MiB), {a.size}x{a.size} pairs; ratio = 4N / N (target <= 1.2)")
    print(f"{'command':<20}{'N=' + str(a.rows):>12}{'4N=' + str(4 * a.rows):>12}{'ratio':>8}")
    for cmd, (small, large) in results.items():
        print(f"{cmd:<20}{small:>12.0f}{large:>12.0f}{large / small:>8.2f}")


if __name__ == "__main__":
    main()
