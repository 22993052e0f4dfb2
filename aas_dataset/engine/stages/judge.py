"""Stage `judge`: one label per (judge, image pair), stored under the judge's own name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aas_dataset.backends.base import JudgeItem
from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.stages.base import Stage, Unit, json_bytes, load_image, unit_key
from aas_dataset.spec.schema import LABEL_DISTORTED, LABEL_ORIGINAL, LABEL_TIE


def pair_inputs(store, unit: Unit):
    meta = store.read_json("prompts", unit.payload["prompt_key"])
    gen = unit.payload["gen_key"]
    o, d = store.read("generate", gen, "original.png"), store.read("generate", gen, "distorted.png")
    return load_image(o), load_image(d), meta


def downstream_units(stage: str, version: int, gen_units: list[Unit], models: list[ResolvedModel]):
    out = []
    for m in models:
        for gu in gen_units:
            key = unit_key(stage, version, m.spec_hash, pair=gu.key)
            payload = {
                "gen_key": gu.key,
                "prompt_key": gu.payload["prompt_key"],
                "model": gu.payload["model"],
                "index": gu.payload["index"],
            }
            reqs = (("generate", gu.key), ("prompts", gu.payload["prompt_key"]))
            out.append(Unit(stage, key, m.name, payload, reqs))
    return out


class JudgeStage(Stage):
    name = "judge"
    VERSION = 1

    def units(self, gen_units: list[Unit], judges: list[ResolvedModel]) -> list[Unit]:
        return downstream_units(self.name, self.VERSION, gen_units, judges)

    def run_batch(self, backend, units, store):
        items = []
        for u in units:
            meta = store.read_json("prompts", u.payload["prompt_key"])
            gen = u.payload["gen_key"]
            o_png, a_png = store.read("generate", gen, "original.png"), store.read("generate", gen, "distorted.png")
            dims = tuple(meta["selected_dims"])
            items.append(JudgeItem(meta["prompt_original"], meta["prompt_distorted"], dims, o_png, a_png))
        if backend.streams:
            # Verdicts are stored as they arrive, by a writer thread, so disk writes overlap the
            # requests still in flight instead of following the whole batch.
            with ThreadPoolExecutor(1, thread_name_prefix="aas-judge-writer") as writer:

                def emit(i: int, v) -> None:
                    files = _verdict_files(backend, v)
                    if not isinstance(files, BaseException):
                        writer.submit(store.write, self.name, units[i].key, files)

                verdicts = backend.judge(items, emit=emit)
        else:
            verdicts = backend.judge(items)
        if len(verdicts) != len(units):
            raise RuntimeError(f"judge returned {len(verdicts)} verdicts for {len(units)} pairs")
        return [_verdict_files(backend, v) for v in verdicts]


def _verdict_files(backend, v) -> dict[str, bytes] | BaseException:
    if isinstance(v, BaseException):
        return v
    if backend.absolute:
        if not v.scores:
            return ValueError("absolute judge returned no scores")
        return {"meta.json": json_bytes({"scores": v.scores, "detail": v.detail})}
    if v.label not in (LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED):
        return ValueError(f"judge label must be -1, 0 or 1, got {v.label!r}")
    meta = {"label": int(v.label), "reason": v.reason}
    if v.detail:
        meta["detail"] = v.detail
    return {"meta.json": json_bytes(meta)}
