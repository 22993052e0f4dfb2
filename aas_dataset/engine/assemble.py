"""Assembly: a build's artifacts -> the rows of every config, handed to the release writer.

Rows come in a fixed order (recipe generator order, index) and hold only what the artifacts
say, so two builds of one recipe give identical files. If the recipe and the set of artifacts
are unchanged (the `build_key` in MANIFEST), nothing is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aas_dataset import __version__
from aas_dataset.engine.records import JudgeRecord, NegativeRecord, PairRecord, PromptRecord
from aas_dataset.engine.stages.generate import GenerateStage
from aas_dataset.engine.stages.judge import JudgeStage
from aas_dataset.engine.stages.prompts import NegativesStage, PromptsStage
from aas_dataset.release.manifest import read_manifest
from aas_dataset.release.writer import SCORES_SHARD_ROWS, ConfigPart, write_release
from aas_dataset.spec.schema import CONFIGS, Column, config_columns, family_rank
from aas_dataset.util import digest

if TYPE_CHECKING:
    from aas_dataset.engine.build import Builder, BuildReport, Plan

VERSION = 1


class _Rows:
    """Reads rows for each config lazily from the store, in a fixed order: a join of the
    records of every stage, each per-pair stage adding its own columns."""

    def __init__(self, builder: Builder, plan: Plan):
        self.b = builder
        self.store = builder.store
        self.plan = plan
        self.prompt_units = [u for u in plan[PromptsStage].units if self.store.has("prompts", u.key)]
        self.gen_units = [u for u in plan[GenerateStage].units if self.store.has("generate", u.key)]
        self.neg_key = {u.payload["prompt_key"]: u.key for u in plan[NegativesStage].units}
        # (stage plan, model, (model, pair key) -> unit key) for every column contributor
        self.contributors = [
            (sp, m, sp.key_of()) for sp in plan.per_pair for m in sp.models.values() if sp.stage.columns(m)
        ]
        self.generators = {g.name: g for g in builder.recipe.generators}

    def columns(self) -> list[Column]:
        """What the per-pair stages add to `pairs` / `scores`, in the schema's family order."""
        cols = [c for sp, m, _ in self.contributors for c in sp.stage.columns(m)]
        return sorted(cols, key=lambda c: family_rank(c.name))

    def keys(self) -> list[str]:
        """Every artifact the release is made of (its identity, with the recipe)."""
        keys = [u.key for u in self.prompt_units] + [u.key for u in self.gen_units]
        keys += sorted(k for k in self.neg_key.values() if self.store.has("negatives", k))
        for sp in self.plan.per_pair:
            keys += sorted(k for k in sp.key_of().values() if self.store.has(sp.stage.name, k))
        return keys

    def usage(self) -> dict:
        """Tokens and estimated cost per stage and backend, summed over the release's artifacts."""
        models = {
            m.name: m for m in (self.b.recipe.rewriter, self.b.recipe.negative_writer, *self.b.recipe.judges) if m
        }
        out: dict = {}
        for stage, record in (
            (PromptsStage, PromptRecord),
            (NegativesStage, NegativeRecord),
            (JudgeStage, JudgeRecord),
        ):
            for u in self.plan[stage].units:
                used = (r := record.read(self.store, u.key)) and r.usage_of
                if not used:
                    continue
                agg = out.setdefault(stage.name, {}).setdefault(
                    u.group, {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
                )
                for k in agg:
                    agg[k] += int(used.get(k, 0))
        for backends in out.values():
            for name, agg in backends.items():
                st = models[name].spec["settings"] if name in models else {}
                cost = (
                    agg["prompt_tokens"] * st.get("price_in_per_mtok", 0)
                    + agg["completion_tokens"] * st.get("price_out_per_mtok", 0)
                ) / 1e6
                agg["cost_usd"] = round(cost, 6)
        return out

    def prompts(self) -> Iterator[dict]:
        for u in self.prompt_units:
            row = PromptRecord.read(self.store, u.key).meta()
            row.pop("usage", None)
            neg = NegativeRecord.read(self.store, self.neg_key.get(u.key))
            row["negative_prompt"] = neg.negative_prompt if neg else None
            yield row

    def pairs(self, with_images: bool) -> Iterator[dict]:
        for u in self.gen_units:
            g = self.generators[u.payload["model"]]
            p = PromptRecord.read(self.store, u.payload["prompt_key"])
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
            if with_images:
                for v in PairRecord.VARIANTS:
                    row[f"image_{v}"] = {"bytes": PairRecord.image(self.store, u.key, v), "path": None}
            for sp, m, key_of in self.contributors:
                record = sp.stage.RECORD.read(self.store, key_of.get((m.name, u.key)))
                row.update(sp.stage.row_values(m, record))
            yield row


def _up_to_date(out: Path, build_key: str) -> dict | None:
    try:
        manifest = read_manifest(out)
    except (FileNotFoundError, ValueError):
        return None
    if manifest.get("build_key") != build_key:
        return None
    for rel, f in manifest["files"].items():
        p = out / rel
        if not p.is_file() or p.stat().st_size != f["bytes"]:
            return None
    return manifest


def assemble(builder: Builder, plan: Plan, report: BuildReport, force: bool = False):
    from aas_dataset.release.card import card_info

    recipe = builder.recipe
    rows = _Rows(builder, plan)
    failures = sorted(report.failures, key=lambda f: (f["stage"], f.get("model", ""), f.get("index", -1), f["backend"]))
    build_key = digest(
        {
            "assemble": VERSION,
            "package": __version__,
            "recipe": recipe.hash,
            "artifacts": rows.keys(),
            "failures": failures,
        }
    )
    out = builder.out
    if not force and (manifest := _up_to_date(out, build_key)):
        return manifest, False

    contributed = rows.columns()
    columns = {c: config_columns(c, extra=contributed if c != "prompts" else ()) for c in CONFIGS}
    n_pairs = len(rows.gen_units)
    r = recipe.recipe
    parts = [
        ConfigPart("prompts", columns["prompts"], rows.prompts(), len(rows.prompt_units), SCORES_SHARD_ROWS),
        ConfigPart("pairs", columns["pairs"], rows.pairs(True), n_pairs, r.shard_rows),
        ConfigPart("scores", columns["scores"], rows.pairs(False), n_pairs, SCORES_SHARD_ROWS),
    ]
    counts = {
        "prompts": len(rows.prompt_units),
        "prompts_planned": len(plan[PromptsStage].units),
        "generators": len(recipe.generators),
        "pairs": n_pairs,
        "pairs_planned": len(plan[GenerateStage].units),
        "failures": {s.stage: s.failed + s.blocked for s in report.stats},
    }
    manifest = write_release(
        out,
        builder.store.mkdtemp("assemble"),
        parts,
        r.row_group_rows,
        card_info(recipe, counts, failures),
        {
            "name": r.name,
            "version": r.version,
            "build_key": build_key,
            "recipe": recipe.resolved_dict(),
            "recipe_hash": recipe.hash,
            "counts": counts,
            "failures": failures,
            "usage": rows.usage(),
        },
    )
    return manifest, True
