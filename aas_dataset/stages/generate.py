"""Stage `generate`: for each (generator, prompt index) both images I_o and I_a."""

from __future__ import annotations

from ..catalog import ResolvedModel
from ..util import derive_seed, png_bytes
from .base import Stage, Unit, json_bytes, unit_key

VARIANTS = ("original", "distorted")


def image_seed(recipe_seed: int, model: str, index: int, variant: str) -> int:
    return derive_seed(recipe_seed, model, index, variant)


class GenerateStage(Stage):
    name = "generate"
    VERSION = 1

    def units(self, prompt_units: list[Unit], generators: list[ResolvedModel], seed: int) -> list[Unit]:
        out = []
        for g in generators:
            for pu in prompt_units:
                index = pu.payload["index"]
                seeds = {v: image_seed(seed, g.name, index, v) for v in VARIANTS}
                key = unit_key(self.name, self.VERSION, g.spec_hash, prompt=pu.key, seeds=seeds)
                payload = {"model": g.name, "index": index, "prompt_key": pu.key, "seeds": seeds}
                out.append(Unit(self.name, key, g.name, payload, (("prompts", pu.key),)))
        return out

    def run_batch(self, backend, units, store):
        prompts, seeds = [], []
        for u in units:
            meta = store.read_json("prompts", u.payload["prompt_key"])
            prompts += [meta["prompt_original"], meta["prompt_distorted"]]
            seeds += [u.payload["seeds"][v] for v in VARIANTS]
        images = backend.generate(prompts, seeds)
        if len(images) != len(prompts):
            raise RuntimeError(f"generator returned {len(images)} images for {len(prompts)} prompts")
        out = []
        for i, u in enumerate(units):
            io_, ia = images[2 * i], images[2 * i + 1]
            bad = next((x for x in (io_, ia) if isinstance(x, BaseException)), None)
            if bad is not None:  # both images or none: a pair is the unit
                out.append(bad)
                continue
            meta = {
                "model": u.payload["model"],
                "index": u.payload["index"],
                "seeds": u.payload["seeds"] if backend.seeded else None,
                "size": [io_.width, io_.height],
            }
            out.append(
                {
                    "original.png": png_bytes(io_),
                    "distorted.png": png_bytes(ia),
                    "meta.json": json_bytes(meta),
                }
            )
        return out
