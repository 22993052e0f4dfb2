"""Stage `score`: r(I, p) for the four combinations oiop, oidp, diop, didp, for any scorer."""

from __future__ import annotations

import numpy as np

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.stages.base import Stage, Unit, json_bytes
from aas_dataset.engine.stages.judge import downstream_units, pair_inputs
from aas_dataset.spec.schema import COMBOS


class ScoreStage(Stage):
    name = "score"
    VERSION = 1

    def units(self, gen_units: list[Unit], scorers: list[ResolvedModel]) -> list[Unit]:
        return downstream_units(self.name, self.VERSION, gen_units, scorers)

    def run_batch(self, backend, units, store):
        images, prompts = [], []
        per = 4 if backend.prompt_dependent else 2
        for u in units:
            io_, ia, meta = pair_inputs(store, u)
            po, pa = meta["prompt_original"], meta["prompt_distorted"]
            if backend.prompt_dependent:
                images += [io_, io_, ia, ia]
                prompts += [po, pa, po, pa]
            else:
                images += [io_, ia]
                prompts += [po, pa]
        raw = np.asarray(backend.score(images, prompts), dtype=np.float64)
        outputs = backend.outputs
        if raw.ndim == 1:
            raw = raw[:, None]
        if raw.shape != (len(images), len(outputs)):
            raise RuntimeError(f"scorer returned shape {raw.shape}, expected ({len(images)}, {len(outputs)})")
        out = []
        for i in range(len(units)):
            block = raw[i * per : (i + 1) * per]
            if not backend.prompt_dependent:  # (I_o, I_a) -> oiop = oidp, diop = didp
                block = block[[0, 0, 1, 1]]
            if not np.isfinite(block).all():
                out.append(ValueError("scorer returned a non-finite score"))
                continue
            scores = {o: {c: float(block[j, k]) for j, c in enumerate(COMBOS)} for k, o in enumerate(outputs)}
            out.append({"meta.json": json_bytes({"scores": scores})})
        return out
