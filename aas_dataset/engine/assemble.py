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
from aas_dataset.release.manifest import read_manifest
from aas_dataset.release.writer import SCORES_SHARD_ROWS, ConfigPart, write_release
from aas_dataset.spec.schema import (
    COMBOS,
    CONFIGS,
    Column,
    config_columns,
    label_column,
    rater_columns,
    score_column,
)
from aas_dataset.spec.taxonomy import DIMENSION_KEYS
from aas_dataset.util import digest

if TYPE_CHECKING:
    from aas_dataset.engine.build import Builder, BuildReport, StagePlan

VERSION = 1


def score_columns_for(scorers) -> list[tuple[str, str, str]]:
    """(column, scorer name, output) for every output of every scorer, in recipe order."""

    cols = []
    for s in scorers:
        if s.traits["rater"]:
            continue  # per-dimension raters fill rater_<name> columns instead
        for out in s.traits["outputs"]:
            cols.append((score_column(s.name, out or None), s.name, out))
    return cols


class _Rows:
    """Reads rows for each config lazily from the store, in a fixed order."""

    def __init__(self, builder: Builder, plan: list[StagePlan]):
        self.b = builder
        self.store = builder.store
        by = {sp.stage.name: sp for sp in plan}
        self.prompt_units = [u for u in by["prompts"].units if self.store.has("prompts", u.key)]
        self.gen_units = [u for u in by["generate"].units if self.store.has("generate", u.key)]
        self.judge_key = {(u.group, u.payload["gen_key"]): u.key for u in by["judge"].units}
        self.score_key = {(u.group, u.payload["gen_key"]): u.key for u in by["score"].units}
        self.neg_key = {u.payload["prompt_key"]: u.key for u in by["negatives"].units}
        self.judges = [j.name for j in builder.recipe.pairwise_judges]
        self.absolute_judges = [j.name for j in builder.recipe.absolute_judges]
        self.plan = by
        self.score_cols = score_columns_for(builder.recipe.scorers)
        self.raters = {sc.name: sc.traits["outputs"] for sc in builder.recipe.scorers if sc.traits["rater"]}
        self.generators = {g.name: g for g in builder.recipe.generators}

    def keys(self) -> list[str]:
        """Every artifact the release is made of (its identity, with the recipe)."""
        keys = [u.key for u in self.prompt_units] + [u.key for u in self.gen_units]
        for table, stage in ((self.neg_key, "negatives"), (self.judge_key, "judge"), (self.score_key, "score")):
            keys += sorted(k for k in table.values() if self.store.has(stage, k))
        return keys

    def usage(self) -> dict:
        """Tokens and estimated cost per stage and backend, summed over the release's artifacts."""
        models = {
            m.name: m for m in (self.b.recipe.rewriter, self.b.recipe.negative_writer, *self.b.recipe.judges) if m
        }
        out: dict = {}
        for stage in ("prompts", "negatives", "judge"):
            for u in self.plan[stage].units:
                if not self.store.has(stage, u.key):
                    continue
                meta = self.store.read_json(stage, u.key)
                used = meta.get("usage") or meta.get("detail", {}).get("usage")
                if not used:
                    continue
                agg = out.setdefault(stage, {}).setdefault(
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
        keys = ("index", "prompt_original", "prompt_distorted", "selected_dims", "effects", "rewriter")
        for u in self.prompt_units:
            m = self.store.read_json("prompts", u.key)
            row = {k: m[k] for k in keys}
            nk = self.neg_key.get(u.key)
            has = nk is not None and self.store.has("negatives", nk)
            row["negative_prompt"] = self.store.read_json("negatives", nk)["negative_prompt"] if has else None
            yield row

    def pairs(self, with_images: bool) -> Iterator[dict]:
        for u in self.gen_units:
            g = self.generators[u.payload["model"]]
            p = self.store.read_json("prompts", u.payload["prompt_key"])
            seeds = u.payload["seeds"] if g.traits["seeded"] else {}
            row = {
                "model": g.name,
                "index": u.payload["index"],
                "prompt_original": p["prompt_original"],
                "prompt_distorted": p["prompt_distorted"],
                "selected_dims": p["selected_dims"],
                "seed_original": seeds.get("original"),
                "seed_distorted": seeds.get("distorted"),
                "generator_kind": g.entry.kind,
                "generator_id": g.entry.model_id or "random-init",
                "generator_revision": g.entry.revision or "",
                "generator_settings": json.dumps(g.spec["settings"], sort_keys=True),
            }
            if with_images:
                for v in ("original", "distorted"):
                    row[f"image_{v}"] = {
                        "bytes": self.store.read("generate", u.key, f"{v}.png"),
                        "path": None,
                    }
            for j in self.absolute_judges:
                k = self.judge_key.get((j, u.key))
                row[f"judge100_{j}"] = (
                    self.store.read_json("judge", k)["scores"] if k and self.store.has("judge", k) else None
                )
            for j in self.judges:
                k = self.judge_key.get((j, u.key))
                row[label_column(j)] = (
                    self.store.read_json("judge", k)["label"] if k and self.store.has("judge", k) else None
                )
            cache: dict[str, dict] = {}
            for col, scorer, out in self.score_cols:
                if scorer not in cache:
                    k = self.score_key.get((scorer, u.key))
                    cache[scorer] = (
                        self.store.read_json("score", k)["scores"] if k and self.store.has("score", k) else {}
                    )
                vals = cache[scorer].get(out)
                row[col] = {c: vals[c] for c in COMBOS} if vals else None
            for r, outs in self.raters.items():
                k = self.score_key.get((r, u.key))
                sc = self.store.read_json("score", k)["scores"] if k and self.store.has("score", k) else None
                n = len(DIMENSION_KEYS)  # outputs: the expected scores, then the predictions
                # image-only: oiop holds J(I_o), diop holds J(I_a)
                arms = (("original", "oiop"), ("distorted", "diop"))
                row[f"rater_{r}"] = {v: [sc[o][c] for o in outs[:n]] for v, c in arms} if sc else None
                row[f"rater_{r}_pred"] = {v: [int(sc[o][c]) for o in outs[n:]] for v, c in arms} if sc else None
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


def assemble(builder: Builder, plan: list[StagePlan], report: BuildReport, force: bool = False):
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

    score_names = [c for c, _, _ in rows.score_cols]
    extra = [
        Column(f"judge100_{j}", "judge100", f"0-100 judge {j}: main concepts, special effects, reasoning per image")
        for j in rows.absolute_judges
    ]
    extra += [c for r in rows.raters for c in rater_columns(r)]
    columns = {c: config_columns(c, score_names, rows.judges, extra if c != "prompts" else ()) for c in CONFIGS}
    n_pairs = len(rows.gen_units)
    r = recipe.recipe
    parts = [
        ConfigPart("prompts", columns["prompts"], rows.prompts(), len(rows.prompt_units), SCORES_SHARD_ROWS),
        ConfigPart("pairs", columns["pairs"], rows.pairs(True), n_pairs, r.shard_rows),
        ConfigPart("scores", columns["scores"], rows.pairs(False), n_pairs, SCORES_SHARD_ROWS),
    ]
    counts = {
        "prompts": len(rows.prompt_units),
        "prompts_planned": len(rows.plan["prompts"].units),
        "generators": len(recipe.generators),
        "pairs": n_pairs,
        "pairs_planned": len(rows.plan["generate"].units),
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
