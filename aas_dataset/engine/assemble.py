"""Assembly: a build's artifacts -> the rows of every config, handed to the release writer.

Rows come in a fixed order (recipe generator order, index) and hold only what the artifacts
say, so two builds of one recipe give identical files. If the recipe and the set of artifacts
are unchanged (the `build_key` in MANIFEST), nothing is rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aas_dataset.engine.stages.generate import GenerateStage
from aas_dataset.engine.stages.judge import JudgeStage
from aas_dataset.engine.stages.prompts import NegativesStage, PromptsStage
from aas_dataset.engine.stages.score import ScoreStage
from aas_dataset.release.manifest import read_manifest
from aas_dataset.release.writer import ConfigPart, write_release
from aas_dataset.spec.schema import Column, config_columns, family_rank
from aas_dataset.util import digest
from aas_dataset.version import __version__

if TYPE_CHECKING:
    from aas_dataset.engine.plan import BuildContext as Builder
    from aas_dataset.engine.plan import BuildReport, Plan

VERSION = 1


class _Join:
    """The release as a join of the stages' records: each config's rows come from the stage
    that owns it, and every stage attached to it adds its columns (read lazily, in a fixed
    order: recipe generator order, index)."""

    def __init__(self, builder: Builder, plan: Plan):
        self.recipe = builder.recipe
        self.store = builder.store
        self.plan = plan

    def done(self, stage) -> list:
        """The units of `stage` that have an artifact, in plan order."""
        return [u for u in self.plan[type(stage)].units if self.store.has(stage.name, u.key)]

    def count(self, stage_cls, planned: bool = False) -> int:
        """Units of a stage with an artifact (or planned); 0 when the recipe has no such stage."""
        if not self.plan.has(stage_cls):
            return 0
        sp = self.plan[stage_cls]
        return len(sp.units) if planned else len(self.done(sp.stage))

    def columns(self, config: str) -> tuple[Column, ...]:
        added = [c for sp in self.plan.attached(config) for m in sp.models.values() for c in sp.stage.columns(m)]
        return config_columns(config, extra=sorted(added, key=lambda c: family_rank(c.name)))

    def rows(self, config: str) -> Iterator[dict]:
        attached = [(sp, m, sp.key_of()) for sp in self.plan.attached(config) for m in sp.models.values()]
        for key, row in self.plan.owner(config).stage.rows(self, config):
            for sp, m, key_of in attached:
                row.update(sp.stage.row_values(m, sp.stage.RECORD.read(self.store, key_of.get((m.name, key)))))
            yield row

    def part(self, config: str) -> ConfigPart:
        owner = self.plan.owner(config).stage
        return ConfigPart(config, self.columns(config), self.rows(config), owner.shard_rows(self.recipe, config))

    def keys(self) -> list[str]:
        """Every artifact the release is made of (its identity, with the recipe)."""
        owners = [sp for sp in self.plan if sp.stage.OWNS]
        keys = [u.key for sp in owners for u in self.done(sp.stage)]
        for sp in self.plan:
            if sp.stage.ATTACHES:
                keys += sorted(u.key for u in self.done(sp.stage))
        return keys

    def records(self):
        """(stage, key, meta.json) of every paired-benchmark unit the release is made of, in plan
        order: with the images in `pairs`, what `engine.hydrate` rebuilds a store from."""
        for stage in (PromptsStage, NegativesStage, GenerateStage, JudgeStage, ScoreStage):
            if not self.plan.has(stage):
                continue
            sp = self.plan[stage]
            for u in self.done(sp.stage):
                yield sp.stage.name, u.key, self.store.read(sp.stage.name, u.key, "meta.json")

    def usage(self) -> dict:
        """Tokens and estimated cost per stage and backend, summed over the release's artifacts."""
        models = {m.name: m for m in (self.recipe.rewriter, self.recipe.negative_writer, *self.recipe.judges) if m}
        out: dict = {}
        for stage in (s for s in (PromptsStage, NegativesStage, JudgeStage) if self.plan.has(s)):  # the LLM steps
            for u in self.plan[stage].units:
                used = (r := stage.RECORD.read(self.store, u.key)) and r.usage_of
                if not used:
                    continue
                agg = out.setdefault(stage.name, {}).setdefault(
                    u.group, {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
                )
                for k in agg:
                    agg[k] += int(used.get(k, 0))
        for backends in out.values():
            for name, agg in backends.items():
                st = models[name].settings if name in models else None
                cost = (
                    agg["prompt_tokens"] * getattr(st, "price_in_per_mtok", 0)
                    + agg["completion_tokens"] * getattr(st, "price_out_per_mtok", 0)
                ) / 1e6
                agg["cost_usd"] = round(cost, 6)
        return out


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


def _fuller_release(out: Path, name: str, join: _Join, plan: Plan) -> str | None:
    """Why the release on disk must not be replaced: it has rows this build lost to failures."""
    try:
        existing = read_manifest(out)
    except (FileNotFoundError, ValueError):
        return None
    if existing.get("name") != name:
        return None
    new = {"prompts": join.count(PromptsStage), "pairs": join.count(GenerateStage)}
    had = {k: int(existing.get("counts", {}).get(k, 0)) for k in new}
    lost = [f"{k} {had[k]} -> {new[k]}" for k in new if new[k] < had[k]]
    return ", ".join(lost) or None


def _reference_counts(join: _Join) -> dict:
    """Files ingested, photos retrieved / accepted, artworks captioned (only the configs built)."""
    from aas_dataset.engine.records import CurationRecord
    from aas_dataset.engine.stages.references import CaptionStage, CurateStage

    out: dict = {}
    if join.plan.has(CurateStage):
        status = [CurationRecord.read(join.store, u.key).status for u in join.done(join.plan[CurateStage].stage)]
        out["real_photos_files"] = join.count(CurateStage, planned=True)
        out["real_photos"] = sum(s != "not_retrieved" for s in status)
        out["real_photos_accepted"] = status.count("accepted")
    if join.plan.has(CaptionStage):
        out["artworks_files"] = join.count(CaptionStage, planned=True)
        out["artworks"] = join.count(CaptionStage)
    return out


def assemble(builder: Builder, plan: Plan, report: BuildReport, force: bool = False, keep_fuller: bool = True):
    """Write the release, unless it is up to date, or (`keep_fuller`) units failed and the
    release on disk has more rows than this one would: then it stays, and `report.kept` says why."""
    from aas_dataset.release.card import card_info

    recipe = builder.recipe
    join = _Join(builder, plan)
    failures = sorted(report.failures, key=lambda f: (f["stage"], f.get("model", ""), f.get("index", -1), f["backend"]))
    build_key = digest(
        {
            "assemble": VERSION,
            "package": __version__,
            "recipe": recipe.hash,
            "artifacts": join.keys(),
            "failures": failures,
        }
    )
    out = builder.out
    if not force and (manifest := _up_to_date(out, build_key)):
        return manifest, False

    r = recipe.recipe
    if keep_fuller and failures and (kept := _fuller_release(out, r.name, join, plan)):
        report.kept = kept
        return read_manifest(out), False
    parts = [join.part(c) for c in plan.configs]
    counts = {
        "prompts": join.count(PromptsStage),
        "prompts_planned": join.count(PromptsStage, planned=True),
        "generators": len(recipe.generators),
        "pairs": join.count(GenerateStage),
        "pairs_planned": join.count(GenerateStage, planned=True),
        **_reference_counts(join),
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
            "usage": join.usage(),
        },
        join.records(),
    )
    return manifest, True
