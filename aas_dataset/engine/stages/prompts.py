"""Stage `prompts`: caption + sampled dimensions -> (p_o, p_a) via the recipe's rewriter."""

from __future__ import annotations

import random

from aas_dataset.catalog import ResolvedModel
from aas_dataset.engine.records import NegativeRecord, PromptRecord
from aas_dataset.engine.stages.base import Stage, Unit, unit_key
from aas_dataset.spec.taxonomy import DIMENSION_KEYS
from aas_dataset.util import derive_seed


def sample_dimensions(seed: int, index: int, lo: int, hi: int) -> list[str]:
    """k ~ U{lo..hi}, then k distinct keys, in sampling order; depends only on (seed, index)."""
    rng = random.Random(derive_seed(seed, "dimensions", index))
    k = rng.randint(lo, hi)
    return rng.sample(list(DIMENSION_KEYS), k)


class PromptsStage(Stage):
    name = "prompts"
    RECORD = PromptRecord
    OWNS = ("prompts",)

    def rows(self, ctx, config: str):
        for u in ctx.done(self):
            row = PromptRecord.read(ctx.store, u.key).meta()
            row.pop("usage", None)
            yield u.key, row

    VERSION = 1

    def units(self, captions: list[str], dims: list[list[str]], rewriter: ResolvedModel) -> list[Unit]:
        return [
            Unit(
                self.name,
                # the row index is part of the identity: two equal captions are two rows
                unit_key(self.name, self.VERSION, rewriter.spec_hash, index=i, caption=c, dims=d),
                rewriter.name,
                {"index": i, "caption": c, "dims": d},
            )
            for i, (c, d) in enumerate(zip(captions, dims, strict=True))
        ]

    def run_batch(self, backend, units, store):
        texts = backend.rewrite_many([(u.payload["caption"], list(u.payload["dims"])) for u in units])
        out = []
        for u, text in zip(units, texts, strict=True):
            p = u.payload
            try:
                if isinstance(text, BaseException):
                    raise text
                usage = getattr(text, "usage", None)
                text = getattr(text, "text", text)
                if not text or not text.strip():
                    raise ValueError("rewriter returned an empty prompt")
                record = PromptRecord(
                    index=p["index"],
                    prompt_original=p["caption"],
                    prompt_distorted=text.strip(),
                    selected_dims=list(p["dims"]),
                    effects=backend.effects_text(list(p["dims"])),
                    rewriter=backend.name,
                    usage=usage or None,
                )
                out.append(record.files())
            except Exception as e:  # recorded per unit; the stage goes on
                out.append(e)
        return out


class NegativesStage(Stage):
    """Stage `negatives`: a <= 5-word negative prompt per p_a (only when the recipe asks)."""

    name = "negatives"
    RECORD = NegativeRecord
    ATTACHES = ("prompts",)
    JOIN = "prompt_key"

    def row_values(self, model, record: NegativeRecord | None) -> dict:
        return {"negative_prompt": record.negative_prompt if record else None}  # a fixed column of `prompts`

    VERSION = 1

    def units(self, prompt_units: list[Unit], writer: ResolvedModel | None) -> list[Unit]:
        if writer is None:
            return []
        return [
            Unit(
                self.name,
                unit_key(self.name, self.VERSION, writer.spec_hash, prompt=pu.key),
                writer.name,
                {"index": pu.payload["index"], "prompt_key": pu.key},
                (("prompts", pu.key),),
            )
            for pu in prompt_units
        ]

    def run_batch(self, backend, units, store):
        metas = [PromptRecord.read(store, u.payload["prompt_key"]) for u in units]
        texts = backend.negative_many([m.prompt_distorted for m in metas], [m.selected_dims for m in metas])
        out = []
        for t in texts:
            if isinstance(t, BaseException):
                out.append(t)
                continue
            usage, t = getattr(t, "usage", None), getattr(t, "text", t)
            if not t.strip() or len(t.split()) > 5:
                out.append(ValueError(f"negative prompt must have 1-5 words, got {t!r}"))
            else:
                out.append(NegativeRecord(t.strip(), usage or None).files())
        return out
