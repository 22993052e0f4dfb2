"""Stage `generate`: for each (generator, prompt index) both images I_o and I_a."""

from __future__ import annotations

import json

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.records import NegativeRecord, PairRecord, PromptRecord
from aas_dataset.engine.stages.base import Stage, Unit, unit_key
from aas_dataset.util import derive_seed, png_bytes

VARIANTS = ("original", "distorted")


def image_seed(recipe_seed: int, model: str, index: int, variant: str) -> int:
    return derive_seed(recipe_seed, model, index, variant)


class GenerateStage(Stage):
    name = "generate"
    RECORD = PairRecord
    OWNS = ("pairs", "scores")  # scores: the rows of pairs without the images

    def shard_rows(self, recipe, config: str) -> int:
        return recipe.recipe.shard_rows if config == "pairs" else super().shard_rows(recipe, config)

    def rows(self, ctx, config: str):
        generators = {g.name: g for g in ctx.recipe.generators}
        for u in ctx.done(self):
            g = generators[u.payload["model"]]
            p = PromptRecord.read(ctx.store, u.payload["prompt_key"])
            seeds = u.payload["seeds"] if g.traits["seeded"] else {}
            row = {
                "model": g.name,
                "index": u.payload["index"],
                "prompt_original": p.prompt_original,
                "prompt_distorted": p.prompt_distorted,
                "selected_dims": p.selected_dims,
                "seed_original": seeds.get("original"),
                "seed_distorted": seeds.get("distorted"),
                "generator_kind": g.entry.kind,
                "generator_id": g.entry.model_id or "random-init",
                "generator_revision": g.entry.revision or "",
                "generator_settings": json.dumps(g.spec["settings"], sort_keys=True),
            }
            if config == "pairs":
                for v in PairRecord.VARIANTS:
                    row[f"image_{v}"] = {"bytes": PairRecord.image(ctx.store, u.key, v), "path": None}
            yield u.key, row

    VERSION = 1

    def units(
        self,
        prompt_units: list[Unit],
        generators: list[ResolvedModel],
        seed: int,
        negative_units: list[Unit] = (),
    ) -> list[Unit]:
        neg_by_prompt = {u.payload["prompt_key"]: u.key for u in negative_units}
        out = []
        for g in generators:
            mitigated = g.traits["needs_negatives"]
            if mitigated and not neg_by_prompt:
                raise ValueError(f"generator {g.name!r} uses VSF/NAG: the recipe needs a negative_writer")
            for pu in prompt_units:
                index = pu.payload["index"]
                seeds = {v: image_seed(seed, g.name, index, v) for v in VARIANTS}
                payload = {"model": g.name, "index": index, "prompt_key": pu.key, "seeds": seeds}
                requires: tuple = (("prompts", pu.key),)
                extra = {}
                if mitigated:  # the negative prompt is an input: its key is part of the unit key
                    payload["negative_key"] = extra["negative"] = neg_by_prompt[pu.key]
                    requires += (("negatives", neg_by_prompt[pu.key]),)
                key = unit_key(self.name, self.VERSION, g.spec_hash, prompt=pu.key, seeds=seeds, **extra)
                out.append(Unit(self.name, key, g.name, payload, requires))
        return out

    def run_batch(self, backend, units, store):
        metas = [PromptRecord.read(store, u.payload["prompt_key"]) for u in units]
        negatives = None
        if backend.needs_negatives(backend.settings):
            negatives = [NegativeRecord.read(store, u.payload["negative_key"]).negative_prompt for u in units]
        originals, distorted = backend.generate_pairs(
            [m.prompt_original for m in metas],
            [m.prompt_distorted for m in metas],
            [u.payload["seeds"]["original"] for u in units],
            [u.payload["seeds"]["distorted"] for u in units],
            negatives,
        )
        if len(originals) != len(units) or len(distorted) != len(units):
            raise RuntimeError(f"generator returned {len(originals)}+{len(distorted)} images for {len(units)} pairs")
        out = []
        for i, u in enumerate(units):
            io_, ia = originals[i], distorted[i]
            bad = next((x for x in (io_, ia) if isinstance(x, BaseException)), None)
            if bad is not None:  # both images or none: a pair is the unit
                out.append(bad)
                continue
            record = PairRecord(
                model=u.payload["model"],
                index=u.payload["index"],
                seeds=u.payload["seeds"] if backend.is_seeded(backend.settings) else None,
                size=[io_.width, io_.height],
                negative_prompt=negatives[i] if negatives is not None else None,
            )
            out.append(record.files_with(png_bytes(io_), png_bytes(ia)))
        return out
