"""Judge throughput against the loopback fake server: requests/s vs the ideal concurrency/latency.

The server runs in its own process, as a real endpoint would (in-process it would share the
client's GIL and measure itself). Run:
    python benchmarks/bench_llm.py [--calls 500] [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AAS_LLM_API_KEY", "sk-bench")

from PIL import Image  # noqa: E402

from aas_dataset import catalog  # noqa: E402
from aas_dataset.backends.base import JudgeItem  # noqa: E402
from aas_dataset.engine.executors import LocalExecutor  # noqa: E402
from aas_dataset.engine.stages.base import Unit, json_bytes  # noqa: E402
from aas_dataset.engine.stages.judge import JudgeStage  # noqa: E402
from aas_dataset.engine.store import Store  # noqa: E402
from aas_dataset.util import png_bytes  # noqa: E402


def _png(i: int) -> bytes:
    return png_bytes(Image.new("RGB", (64, 64), (i % 256, (7 * i) % 256, 90)))


def _line(label: str, n: int, dt: float, ideal: float) -> str:
    rate = n / dt
    head = f"{label:<14}: {n} calls in {dt:.2f} s = {rate:6.1f} req/s"
    return f"{head}; ideal {ideal:.0f}; ratio {rate / ideal:.2f} (target >= 0.80)"


def run(a, base_url: str) -> None:
    ideal = a.concurrency / a.latency
    print(
        f"fake server in its own process, {a.latency * 1000:.0f} ms per request, blind: it answers without "
        "decoding the images, so this measures the client and the stage, not image handling on a server"
    )
    model = catalog.resolve("judge", "local_llm_judge", {"base_url": base_url, "concurrency": a.concurrency})

    # 1. the backend alone: one judge() call with every pair
    judge = model.instantiate()
    judge.load()
    items = [JudgeItem("p", f"prompt {i}", (), _png(i), _png(i + 1)) for i in range(a.calls)]
    t0 = time.perf_counter()
    out = judge.judge(items)
    dt = time.perf_counter() - t0
    assert all(hasattr(v, "label") for v in out), [v for v in out if not hasattr(v, "label")][:3]
    print(_line("judge backend", judge.client.calls, dt, ideal))

    # 2. the judge stage through the executor: reads images from the store, writes artifacts
    store = Store(Path(tempfile.mkdtemp()))
    units = []
    for i in range(a.calls):
        gen, pk = f"g{i:039d}", f"p{i:039d}"
        meta = {"prompt_original": "p", "prompt_distorted": f"prompt {i} again", "selected_dims": []}
        store.write("prompts", pk, {"meta.json": json_bytes(meta)})
        store.write("generate", gen, {"original.png": _png(i + 3), "distorted.png": _png(i + 4), "meta.json": b"{}"})
        payload = {"gen_key": gen, "prompt_key": pk, "model": "m", "index": i}
        units.append(Unit("judge", f"j{i:039d}", model.name, payload, (("generate", gen), ("prompts", pk))))
    stage_model = {model.name: model}
    t0 = time.perf_counter()
    stats = LocalExecutor(store, batch_size=8).run(JudgeStage(), units, stage_model)
    dt = time.perf_counter() - t0
    assert stats.ok == a.calls, stats.as_dict()
    print(_line("judge stage", stats.ok, dt, ideal))
    t0 = time.perf_counter()
    again = LocalExecutor(store, batch_size=8).run(JudgeStage(), units, stage_model)
    print(f"rerun          : {again.loads} backend loads, {again.cached} cached, {time.perf_counter() - t0:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "aas_dataset.testing.fake_openai", "--latency", str(a.latency), "--blind"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        run(a, server.stdout.readline().strip())
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
