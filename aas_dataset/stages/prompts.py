"""Stage `prompts`: caption + sampled dimensions -> (p_o, p_a) via the recipe's rewriter."""

from __future__ import annotations

import random

from ..catalog import ResolvedModel
from ..taxonomy import DIMENSION_KEYS, dimension
from ..util import derive_seed
from .base import Stage, Unit, json_bytes, unit_key


def sample_dimensions(seed: int, index: int, lo: int, hi: int) -> list[str]:
    """k ~ U{lo..hi}, then k distinct keys, in sampling order; depends only on (seed, index)."""
    rng = random.Random(derive_seed(seed, "dimensions", index))
    k = rng.randint(lo, hi)
    return rng.sample(list(DIMENSION_KEYS), k)


class PromptsStage(Stage):
    name = "prompts"
    VERSION = 1

    def units(self, captions: list[str], dims: list[list[str]], rewriter: ResolvedModel) -> list[Unit]:
        return [
            Unit(
                self.name,
                unit_key(self.name, self.VERSION, rewriter.spec_hash, caption=c, dims=d),
                rewriter.name,
                {"index": i, "caption": c, "dims": d},
            )
            for i, (c, d) in enumerate(zip(captions, dims, strict=True))
        ]

    def run_batch(self, backend, units, store):
        out = []
        for u in units:
            p = u.payload
            try:
                text = backend.rewrite(p["caption"], list(p["dims"]))
                if not text or not text.strip():
                    raise ValueError("rewriter returned an empty prompt")
                meta = {
                    "index": p["index"],
                    "prompt_original": p["caption"],
                    "prompt_distorted": text.strip(),
                    "selected_dims": list(p["dims"]),
                    "effects": "\n".join(dimension(d).anti_pole for d in p["dims"]),
                    "rewriter": backend.name,
                }
                out.append({"meta.json": json_bytes(meta)})
            except Exception as e:  # recorded per unit; the stage goes on
                out.append(e)
        return out
