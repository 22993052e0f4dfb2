"""Stage `judge`: one label (or 0-100 grades) per (judge, image pair), under the judge's own
name: `label_<judge>` / `judge100_<judge>` columns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aas_dataset.backends.base import JudgeItem
from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.records import JudgeRecord, PairRecord, PromptRecord
from aas_dataset.engine.stages.base import Stage, Unit, load_image, unit_key
from aas_dataset.spec.schema import LABEL_DISTORTED, LABEL_ORIGINAL, LABEL_TIE, Column, label_column


def pair_inputs(store, unit: Unit):
    """(I_o, I_a, the prompt record) of a downstream unit's image pair."""
    gen = unit.payload["gen_key"]
    o, d = (load_image(PairRecord.image(store, gen, v)) for v in PairRecord.VARIANTS)
    return o, d, PromptRecord.read(store, unit.payload["prompt_key"])


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
    ATTACHES = ("pairs", "scores")
    JOIN = "gen_key"
    RECORD = JudgeRecord
    VERSION = 1

    def units(self, gen_units: list[Unit], judges: list[ResolvedModel]) -> list[Unit]:
        return downstream_units(self.name, self.VERSION, gen_units, judges)

    def run_batch(self, backend, units, store):
        items = []
        for u in units:
            p = PromptRecord.read(store, u.payload["prompt_key"])
            o_png, a_png = (PairRecord.image(store, u.payload["gen_key"], v) for v in PairRecord.VARIANTS)
            items.append(JudgeItem(p.prompt_original, p.prompt_distorted, tuple(p.selected_dims), o_png, a_png))
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

    def columns(self, model) -> tuple[Column, ...]:
        if model.traits["absolute"]:
            doc = f"0-100 judge {model.name}: main concepts, special effects, reasoning per image"
            return (Column(f"judge100_{model.name}", "judge100", doc),)
        return (Column(label_column(model.name), "int64", f"label of judge {model.name}"),)

    def row_values(self, model, record: JudgeRecord | None) -> dict:
        if model.traits["absolute"]:
            return {f"judge100_{model.name}": record.scores if record else None}
        return {label_column(model.name): record.label if record else None}


def _verdict_files(backend, v) -> dict[str, bytes] | BaseException:
    if isinstance(v, BaseException):
        return v
    if backend.absolute:
        if not v.scores:
            return ValueError("absolute judge returned no scores")
        return JudgeRecord(scores=v.scores, detail=v.detail).files()
    if v.label not in (LABEL_TIE, LABEL_ORIGINAL, LABEL_DISTORTED):
        return ValueError(f"judge label must be -1, 0 or 1, got {v.label!r}")
    return JudgeRecord(label=int(v.label), reason=v.reason, detail=v.detail or None).files()
