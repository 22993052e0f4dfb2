"""Stage `score`: r(I, p) for the four combinations oiop, oidp, diop, didp, for any scorer:
`score_<scorer>[_<output>]` columns, or `rater_<name>[_pred]` for a per-dimension rater."""

from __future__ import annotations

import numpy as np

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.records import ScoreRecord
from aas_dataset.engine.stages.base import Stage, Unit
from aas_dataset.engine.stages.judge import downstream_units, pair_inputs
from aas_dataset.spec.schema import COMBOS, Column, rater_columns, score_column
from aas_dataset.spec.taxonomy import DIMENSION_KEYS

AUX_DOCS = {  # secondary outputs are not preferences: the card says what they are
    "neg": "BLIP ITM no-match logit for the four combinations (auxiliary: not a preference; match = σ(pos − neg))",
    "log_sigma": "HPSv3 log σ, its uncertainty, for the four combinations (auxiliary: not a preference)",
    "sigma": "the scorer's σ (uncertainty) for the four combinations (auxiliary: not a preference)",
}


def output_doc(output: str) -> str:
    if output in AUX_DOCS:
        return AUX_DOCS[output]
    if output:
        return f"reward r(I, p), output {output!r}, for the four combinations"
    return "reward r(I, p) for the four combinations"


def score_matrix(backend, images: list, prompts: list[str]) -> np.ndarray:
    """The scorer's outputs as an (images, outputs) array, or an error naming the shape it gave."""
    raw = np.asarray(backend.score(images, prompts), dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[:, None]
    if raw.shape != (len(images), len(backend.outputs)):
        raise RuntimeError(f"scorer returned shape {raw.shape}, expected ({len(images)}, {len(backend.outputs)})")
    return raw


def score_combos(backend, quads: list[tuple]) -> list[dict | Exception]:
    """For each (I_o, I_a, p_o, p_a): output -> {oiop, oidp, diop, didp}, or the error of that
    item (a non-finite score is a named failure, never a silently empty cell)."""
    images, prompts = [], []
    per = 4 if backend.prompt_dependent else 2
    for io_, ia, po, pa in quads:
        if backend.prompt_dependent:
            images += [io_, io_, ia, ia]
            prompts += [po, pa, po, pa]
        else:
            images += [io_, ia]
            prompts += [po, pa]
    raw, outputs = score_matrix(backend, images, prompts), backend.outputs
    out: list = []
    for i in range(len(quads)):
        block = raw[i * per : (i + 1) * per]
        if not backend.prompt_dependent:  # (I_o, I_a) -> oiop = oidp, diop = didp
            block = block[[0, 0, 1, 1]]
        if bad := int((~np.isfinite(block)).sum()):
            out.append(ValueError(f"scorer returned {bad} non-finite value(s) (NaN or inf) of {block.size}"))
            continue
        out.append({o: {c: float(block[j, k]) for j, c in enumerate(COMBOS)} for k, o in enumerate(outputs)})
    return out


class ScoreStage(Stage):
    name = "score"
    ATTACHES = ("pairs", "scores")
    JOIN = "gen_key"
    RECORD = ScoreRecord
    VERSION = 1

    def units(self, gen_units: list[Unit], scorers: list[ResolvedModel]) -> list[Unit]:
        return downstream_units(self.name, self.VERSION, gen_units, scorers)

    def run_batch(self, backend, units, store):
        quads = []
        for u in units:
            io_, ia, p = pair_inputs(store, u)
            quads.append((io_, ia, p.prompt_original, p.prompt_distorted))
        return [r if isinstance(r, BaseException) else ScoreRecord(r).files() for r in score_combos(backend, quads)]

    def columns(self, model) -> tuple[Column, ...]:
        if model.traits["rater"]:
            return rater_columns(model.name)
        return tuple(
            Column(score_column(model.name, o or None), "score", output_doc(o)) for o in model.traits["outputs"]
        )

    def row_values(self, model, record: ScoreRecord | None) -> dict:
        sc = record.scores if record else None
        if model.traits["rater"]:  # outputs: the 11 expected scores, then the 11 predictions
            n, outs = len(DIMENSION_KEYS), model.traits["outputs"]
            arms = (("original", "oiop"), ("distorted", "diop"))  # image only: oiop holds J(I_o)
            return {
                f"rater_{model.name}": {v: [sc[o][c] for o in outs[:n]] for v, c in arms} if sc else None,
                f"rater_{model.name}_pred": {v: [int(sc[o][c]) for o in outs[n:]] for v, c in arms} if sc else None,
            }
        return {
            score_column(model.name, o or None): ({c: sc[o][c] for c in COMBOS} if sc and sc.get(o) else None)
            for o in model.traits["outputs"]
        }
