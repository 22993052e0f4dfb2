"""Executors own completion: they skip units whose artifact exists, batch the rest per
backend, load each backend once (only if it has work), write artifacts, record failures.

`LocalExecutor` runs in-process. A multi-GPU or Ray executor maps the same `run_group` over
workers (each with its own backend); nothing else changes.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.stages.base import Stage, Unit
from aas_dataset.engine.store import Store
from aas_dataset.util import redact

log = logging.getLogger(__name__)


@dataclass
class StageStats:
    stage: str
    total: int = 0
    cached: int = 0
    ok: int = 0
    failed: int = 0
    blocked: int = 0  # an input artifact is missing (an upstream unit failed)
    calls: int = 0  # backend invocations (batches)
    loads: int = 0  # backends loaded
    failures: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("failures")
        return d


class Progress:
    """No-op progress sink; the CLI passes a rich one."""

    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, outcome: str, n: int = 1) -> None: ...
    def finish(self, stage: str) -> None: ...


def _chunks(seq: list, n: int) -> Iterable[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class LocalExecutor:
    def __init__(self, store: Store, batch_size: int, progress: Progress | None = None):
        self.store = store
        self.batch_size = batch_size
        self.progress = progress or Progress()

    def run(self, stage: Stage, units: list[Unit], models: dict[str, ResolvedModel]) -> StageStats:
        stats = StageStats(stage.name, total=len(units))
        self.progress.start(stage.name, len(units))
        t0 = time.perf_counter()
        groups: dict[str, list[Unit]] = {}
        for u in units:
            groups.setdefault(u.group, []).append(u)
        for group, members in groups.items():
            runnable, todo = [], set()
            for u in members:
                if self.store.has(stage.name, u.key):
                    stats.cached += 1
                    self.progress.advance(stage.name, "cached")
                    runnable.append(u)
                elif missing := [r for r in u.requires if not self.store.has(*r)]:
                    self._fail(
                        stats,
                        u,
                        f"input missing (upstream failed): {missing[0][0]} {missing[0][1]}",
                        "blocked",
                    )
                else:
                    runnable.append(u)
                    todo.add(u.key)
            if todo:
                # For backends with exact batches, batches are cut from every runnable unit of
                # the group, cached ones included, so a batch holds the same units whatever was
                # done before a crash: batched kernels round by batch shape, and a resumed build
                # must equal an uninterrupted one byte for byte. A batch with nothing to do is
                # skipped; in one with some, the cached units are recomputed and their results
                # dropped. Other backends get only the missing units.
                model = models[group]
                size = max(self.batch_size, model.instantiate().preferred_batch_size or 0)
                pool = runnable if model.traits["exact_batches"] else [u for u in runnable if u.key in todo]
                batches = [b for b in _chunks(pool, size) if any(u.key in todo for u in b)]
                self.run_group(stage, models[group], batches, todo, stats)
        self.progress.finish(stage.name)
        log.info(
            "%s: %d units, %d cached, %d ok, %d failed, %d blocked, %d model calls, %.1f s",
            stage.name, stats.total, stats.cached, stats.ok, stats.failed, stats.blocked, stats.calls,
            time.perf_counter() - t0,
        )  # fmt: skip
        return stats

    def run_group(
        self, stage: Stage, model: ResolvedModel, batches: list[list[Unit]], todo: set[str], stats: StageStats
    ) -> None:
        try:
            t0 = time.perf_counter()
            backend = model.instantiate(cache_dir=self.store.root / "cache")
            backend.load()
            stats.loads += 1
            log.info("%s: loaded %s %r in %.1f s", stage.name, model.role, model.name, time.perf_counter() - t0)
        except Exception as e:
            for b in batches:
                for u in b:
                    if u.key in todo:
                        self._fail(stats, u, f"could not load {model.role} {model.name!r}: {_describe(e)}")
            return
        # Artifacts are written by one background thread while the backend computes the next
        # batch (fsync'd writes would otherwise idle the accelerator); all land before return.
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="aas-writer") as writer:
                self._writer = writer
                for batch in batches:
                    self._run_batch(stage, backend, batch, todo, stats)
        finally:
            self._writer = None  # the `with` above waited for every write
            backend.close()

    def _run_batch(self, stage: Stage, backend, batch: list[Unit], todo: set[str], stats: StageStats) -> None:
        try:
            stats.calls += 1
            t0 = time.perf_counter()
            results = stage.run_batch(backend, batch, self.store)
            log.debug("%s: batch of %d in %.2f s", stage.name, len(batch), time.perf_counter() - t0)
        except Exception as e:
            if len(batch) > 1:  # isolate the failing unit(s); the others still land
                for u in batch:
                    if u.key in todo:
                        self._run_batch(stage, backend, [u], todo, stats)
                return
            results = [e]
        for u, res in zip(batch, results, strict=True):
            if u.key not in todo:  # cached: computed only to keep the batch whole
                continue
            if isinstance(res, Exception):
                self._fail(stats, u, _describe(res))
            elif getattr(self, "_writer", None) is not None:
                self._writer.submit(self._write, stage, u, res, stats)
            else:
                self.store.write(stage.name, u.key, res)
                stats.ok += 1
                self.progress.advance(stage.name, "ok")

    def _write(self, stage: Stage, u: Unit, files: dict, stats: StageStats) -> None:
        """On the writer thread: `ok` is counted only once the artifact is durable."""
        try:
            self.store.write(stage.name, u.key, files)
        except Exception as e:
            self._fail(stats, u, f"could not write the artifact: {_describe(e)}")
            return
        stats.ok += 1
        self.progress.advance(stage.name, "ok")

    def _fail(self, stats: StageStats, u: Unit, reason: str, outcome: str = "failed") -> None:
        info = {
            "stage": u.stage,
            "key": u.key,
            "backend": u.group,
            **{k: v for k, v in u.payload.items() if k in ("model", "index")},
            "outcome": outcome,
            "reason": redact(reason),
        }
        self.store.record_failure(u.stage, u.key, info)
        stats.failures.append(info)
        log.info("%s: %s %s: %s", u.stage, outcome, u.key[:12], info["reason"])
        if outcome == "blocked":
            stats.blocked += 1
        else:
            stats.failed += 1
        self.progress.advance(stats.stage, outcome)


def _describe(e: BaseException) -> str:
    msg = f"{type(e).__name__}: {e}".strip()
    if os.environ.get("AAS_DEBUG"):
        msg += "\n" + "".join(traceback.format_exception(e))
    return msg


def _worker_run(
    store_spec: tuple,
    batch_size: int,
    stage: Stage,
    model: ResolvedModel,
    batches: list[list[Unit]],
    todo: set[str],
    worker: int,
    threads: int | None = None,
) -> StageStats:
    # One GPU per worker: narrow CUDA_VISIBLE_DEVICES before torch is imported in this process.
    visible = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if visible:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible[worker % len(visible)]
    # Workers keep torch's default thread count: on CPU, float reductions depend on it, and
    # equal pixels for any worker count matter more than oversubscription. A Ray worker starts
    # with OMP_NUM_THREADS=1, so it is given the driver's count.
    if threads:
        import torch

        torch.set_num_threads(threads)
    stats = StageStats(stage.name)
    from aas_dataset.engine.store import open_store

    LocalExecutor(open_store(*store_spec), batch_size).run_group(stage, model, batches, todo, stats)
    return stats


class ProcessExecutor(LocalExecutor):
    """Splits each backend's batches over `workers` processes, each loading the backend once
    (one per GPU on a multi-GPU node). Whole batches move, so the output does not depend on the
    split: every image has its own seed and generator, every batch the same members."""

    def __init__(self, store: Store, batch_size: int, workers: int, progress: Progress | None = None):
        super().__init__(store, batch_size, progress)
        self.workers = workers

    def run_group(
        self, stage: Stage, model: ResolvedModel, batches: list[list[Unit]], todo: set[str], stats: StageStats
    ) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        n = min(self.workers, len(batches))
        if n <= 1:
            return super().run_group(stage, model, batches, todo, stats)
        per = -(-len(batches) // n)
        slices = [batches[i : i + per] for i in range(0, len(batches), per)]
        with ProcessPoolExecutor(len(slices), mp_context=mp.get_context("spawn")) as pool:
            futures = [
                pool.submit(_worker_run, self.store.spec(), self.batch_size, stage, model, s, todo, i)
                for i, s in enumerate(slices)
            ]
            for f in futures:
                part = f.result()
                for attr in ("ok", "failed", "blocked", "calls", "loads"):
                    setattr(stats, attr, getattr(stats, attr) + getattr(part, attr))
                stats.failures += part.failures
                self.progress.advance(stage.name, "ok", part.ok)
                if part.failed:
                    self.progress.advance(stage.name, "failed", part.failed)


class RayExecutor(LocalExecutor):
    """Each backend's batches split over Ray tasks (at most `workers` at a time, like the process
    executor): a task loads its backend once, runs whole batches and writes each artifact to the
    shared store itself, so results never travel through Ray's object store and the output does
    not depend on where a batch ran. A task whose worker dies is retried by Ray (`max_retries`),
    recomputing its batches whole. Backends that compute locally (torch models) ask for
    `gpus_per_task` GPUs each; API and LLM backends ask for none.

    `address`: a running cluster ("auto", "ray://head:10001"); None starts a local one with
    `workers` CPUs (what the tests use)."""

    def __init__(
        self,
        store: Store,
        batch_size: int,
        workers: int,
        progress: Progress | None = None,
        address: str | None = None,
        gpus_per_task: float = 0,
    ):
        super().__init__(store, batch_size, progress)
        import ray

        self.workers, self.gpus_per_task = max(1, workers), gpus_per_task
        if not ray.is_initialized():
            kw = {"address": address} if address else {"num_cpus": self.workers}
            ray.init(include_dashboard=False, log_to_driver=False, **kw)

    def run_group(
        self, stage: Stage, model: ResolvedModel, batches: list[list[Unit]], todo: set[str], stats: StageStats
    ) -> None:
        import ray

        n = min(self.workers, len(batches))
        per = -(-len(batches) // max(n, 1))
        slices = [batches[i : i + per] for i in range(0, len(batches), per)]
        gpus = self.gpus_per_task if model.traits.get("exact_batches") else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=2)(_worker_run)
        threads = _default_threads()
        refs = [
            task.remote(self.store.spec(), self.batch_size, stage, model, s, todo, i, threads)
            for i, s in enumerate(slices)
        ]
        for part in ray.get(refs):
            for attr in ("ok", "failed", "blocked", "calls", "loads"):
                setattr(stats, attr, getattr(stats, attr) + getattr(part, attr))
            stats.failures += part.failures
            self.progress.advance(stage.name, "ok", part.ok)
            if part.failed:
                self.progress.advance(stage.name, "failed", part.failed)


def _default_threads() -> int | None:
    """torch's thread count in this (driver) process, where OMP_NUM_THREADS is the user's own."""
    try:
        import torch
    except ImportError:  # a build of API models only: nothing computes locally
        return None
    return torch.get_num_threads()
