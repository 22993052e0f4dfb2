"""A build: recipe -> units of every stage -> executor -> assemble (shards, card, MANIFEST)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from aas_dataset.catalog.recipes import ResolvedRecipe
from aas_dataset.engine.executors import LocalExecutor, ProcessExecutor, Progress
from aas_dataset.engine.plan import BuildReport, Plan, StagePlan
from aas_dataset.engine.stages.generate import GenerateStage
from aas_dataset.engine.stages.judge import JudgeStage
from aas_dataset.engine.stages.prompts import NegativesStage, PromptsStage, sample_dimensions
from aas_dataset.engine.stages.score import ScoreStage
from aas_dataset.engine.store import Store, open_store
from aas_dataset.release.writer import STORE_DIR, claim, folder_lock
from aas_dataset.spec.captions import hub_cached, resolve_captions

log = logging.getLogger(__name__)


def _hf_cached_repos() -> set[str]:
    try:
        from huggingface_hub import scan_cache_dir

        return {repo.repo_id for repo in scan_cache_dir().repos}
    except Exception:  # no cache folder yet
        return set()


ONLY_ROLES = {"generator": GenerateStage, "judge": JudgeStage, "scorer": ScoreStage}


def restrict(plan: Plan, only: dict[str, set[str]]) -> list[StagePlan]:
    """The stages of `plan` a partial run (`--only role=NAME`) does: the prompts and negatives
    the named models need, and of each named role only the named models' units."""
    out = []
    for sp in plan:
        role = next((r for r, cls in ONLY_ROLES.items() if type(sp.stage) is cls), None)
        if type(sp.stage) in (PromptsStage, NegativesStage):
            out.append(sp)
        elif role in only:
            names = only[role]
            out.append(
                StagePlan(
                    sp.stage,
                    [u for u in sp.units if u.group in names],
                    {n: m for n, m in sp.models.items() if n in names},
                )
            )
    return out


def parse_only(values: list[str], recipe: ResolvedRecipe) -> dict[str, set[str]]:
    """`generator=a,b` ... -> {"generator": {"a", "b"}}, each name checked against the recipe."""
    out: dict[str, set[str]] = {}
    known = {"generator": recipe.generators, "judge": recipe.judges, "scorer": recipe.scorers}
    for v in values:
        role, _, names = v.partition("=")
        if role not in known or not names:
            raise ValueError(f"--only {v!r}: expected ROLE=NAME[,NAME] with ROLE one of {', '.join(known)}")
        have = {m.name for m in known[role]}
        for n in names.split(","):
            if n not in have:
                raise ValueError(f"--only {v!r}: {n!r} is not a {role} of the recipe ({', '.join(sorted(have))})")
            out.setdefault(role, set()).add(n)
    return out


class Builder:
    def __init__(self, recipe: ResolvedRecipe, out: Path, store_dir: Path | None = None):
        self.recipe = recipe
        self.out = Path(out)
        local = self.out / STORE_DIR / "store"
        self.store = open_store(store_dir, local) if store_dir else Store(local)

    def preflight(self) -> list[str]:
        """What would make the whole build fail, found before any work: API keys the recipe's
        models name, weights and captions that an offline machine does not have."""
        import os

        r = self.recipe
        problems = []
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        cached = _hf_cached_repos() if offline else set()
        for m in (r.rewriter, r.negative_writer, *r.generators, *r.judges, *r.scorers, *r.reference_models):
            if m is None:
                continue
            env = getattr(m.settings, "api_key_env", None)
            if env and not os.environ.get(env):
                problems.append(f"{m.role} {m.name!r} needs the environment variable {env}, which is not set")
            mid = m.entry.model_id
            remote_weights = mid and "/" in mid and not env and not getattr(m.settings, "tiny", False)
            if offline and remote_weights and not Path(mid).exists() and mid not in cached:
                problems.append(f"{m.role} {m.name!r}: {mid} is not in the local Hugging Face cache (HF_HUB_OFFLINE=1)")
        caps = r.recipe.captions
        if caps and caps.hub and offline and not self.captions_available:
            problems.append(f"captions: {caps.hub.id} is not cached here and HF_HUB_OFFLINE=1")
        return problems

    @property
    def captions_available(self) -> bool:
        caps = self.recipe.recipe.captions
        return caps is None or hub_cached(caps, self.store.root / "captions")

    def captions(self) -> list[str]:
        caps = self.recipe.recipe.captions
        return [] if caps is None else resolve_captions(caps, self.recipe.base_dir, self.store.root / "captions")

    def plan(self, captions: list[str] | None = None) -> Plan:
        r = self.recipe
        if r.recipe.captions is None:  # real references and studies only
            return Plan(self._reference_plans() + self._study_plans())
        caps = self.captions() if captions is None else captions
        dims = [
            sample_dimensions(r.recipe.seed, i, r.recipe.dimensions.min, r.recipe.dimensions.max)
            for i in range(len(caps))
        ]
        ps, ns, gs, js, ss = PromptsStage(), NegativesStage(), GenerateStage(), JudgeStage(), ScoreStage()
        p_units = ps.units(caps, dims, r.rewriter)
        nw = r.negative_writer
        n_units = ns.units(p_units, nw)
        g_units = gs.units(p_units, r.generators, r.recipe.seed, n_units)
        return Plan(
            [
                StagePlan(ps, p_units, {r.rewriter.name: r.rewriter}),
                StagePlan(ns, n_units, {nw.name: nw} if nw else {}),
                StagePlan(gs, g_units, {g.name: g for g in r.generators}),
                StagePlan(js, js.units(g_units, r.judges), {j.name: j for j in r.judges}),
                StagePlan(ss, ss.units(g_units, r.scorers), {s.name: s for s in r.scorers}),
                *self._reference_plans(),
                *self._study_plans(),
            ]
        )

    def _study_plans(self) -> list[StagePlan]:
        """The side studies (engine/stages/studies.py), when the recipe has them."""
        from aas_dataset.engine.stages import studies
        from aas_dataset.spec.instructions import describe

        r = self.recipe
        out: list[StagePlan] = []
        if emo := r.recipe.emotion_bias:
            gen, cap = r.study_models["emotion_generator"], r.study_models["emotion_captioner"]
            images = studies.EmotionImagesStage(emo.texts, emo.official_dir, self.store.root / "cache", emo.strength)
            captions, scores = studies.EmotionCaptionStage(), studies.EmotionScoreStage()
            i_units = images.units(emo.count, gen, emo.seed, describe("emotion_images", emo.texts))
            c_units = captions.units(i_units, cap)
            out += [
                StagePlan(images, i_units, {gen.name: gen}),
                StagePlan(captions, c_units, {cap.name: cap}),
                StagePlan(scores, scores.units(c_units, r.scorers), {s.name: s for s in r.scorers}),
            ]
        if eg := r.recipe.emotion_generation:
            templates = resolve_captions(eg.templates, r.base_dir, self.store.root / "captions")
            if bad := [i for i, t in enumerate(templates) if "[emotion]" not in t]:
                raise ValueError(f"emotion_generation.templates: template {bad[0]} has no [emotion] placeholder")
            gens, faces = studies.EmotionGenStage(eg.caption, r.detector.name), studies.FaceStage(eg.query)
            fscores = studies.FaceScoreStage(eg.caption)
            g_units = gens.units(templates, r.emotion_generators, eg.seed)
            f_units = faces.units(g_units, r.detector)
            out += [
                StagePlan(gens, g_units, {g.name: g for g in r.emotion_generators}),
                StagePlan(faces, f_units, {r.detector.name: r.detector}),
                StagePlan(fscores, fscores.units(g_units, f_units, r.scorers), {s.name: s for s in r.scorers}),
            ]
        if i2i := r.recipe.image_to_image:
            source = (r.base_dir / i2i.source).resolve()
            edits, scores = studies.Img2ImgStage(source, i2i.strength), studies.Img2ImgScoreStage()
            e_units = edits.units(studies.source_rows(source, i2i.keep), r.editors, i2i.seed)
            out += [
                StagePlan(edits, e_units, {e.name: e for e in r.editors}),
                StagePlan(scores, scores.units(e_units, r.scorers), {s.name: s for s in r.scorers}),
            ]
        return out

    def _reference_plans(self) -> list[StagePlan]:
        """The stages of the real references (engine/stages/references.py), when the recipe has them."""
        from aas_dataset.engine.stages import references as ref

        r = self.recipe
        scorers = {s.name: s for s in r.scorers}
        out: list[StagePlan] = []
        ingest = ref.IngestStage()
        if rp := r.recipe.real_photos:
            m = r.real_photos_models
            root, items = ref.list_source(rp.source, r.base_dir)
            i_units = ingest.units("real_photos", root, items)
            es, cs, ts, pss = (
                ref.EmbedStage(),
                ref.CurateStage(r.real_photos_commits, rp),
                ref.TwinStage(),
                ref.PhotoScoreStage(),
            )
            e_units = es.units(i_units, cs.texts(r.real_photos_commits), m["embedder"])
            c_units = cs.units(i_units, e_units, m["curator"])
            t_units = ts.units(c_units, m["twin_generator"], rp.seed)
            out += [
                StagePlan(ingest, i_units, {"ingest_real_photos": ref.ModelFree("ingest_real_photos")}),
                StagePlan(es, e_units, {m["embedder"].name: m["embedder"]}),
                StagePlan(cs, c_units, {m["curator"].name: m["curator"]}),
                StagePlan(ts, t_units, {m["twin_generator"].name: m["twin_generator"]}),
                StagePlan(pss, pss.units(c_units, t_units, r.scorers), scorers),
            ]
        if art := r.recipe.artworks:
            m = r.artworks_models
            root, items = ref.list_source(art.source, r.base_dir)
            i_units = ingest.units("artworks", root, items)
            cap, ars = ref.CaptionStage(art), ref.ArtScoreStage()
            c_units = cap.units(i_units, m["captioner"])
            out += [
                StagePlan(ingest, i_units, {"ingest_artworks": ref.ModelFree("ingest_artworks")}),
                StagePlan(cap, c_units, {m["captioner"].name: m["captioner"]}),
                StagePlan(ars, ars.units(c_units, r.scorers, art.seed), scorers),
            ]
        return out

    def status(self, plan: Plan, base: frozenset = frozenset()) -> list[dict]:
        """Units per stage, cached (in the store, or in `base`: the (stage, key) a release
        given with --from records) and to do."""
        rows = []
        for sp in plan:
            cached = sum(self.store.has(sp.stage.name, u.key) or (sp.stage.name, u.key) in base for u in sp.units)
            rows.append(
                {
                    "stage": sp.stage.name,
                    "units": len(sp.units),
                    "cached": cached,
                    "todo": len(sp.units) - cached,
                }
            )
        return rows

    def run(
        self,
        progress: Progress | None = None,
        force_assemble: bool = False,
        workers: int = 1,
        overwrite: bool = False,
        allow_failures: bool = False,
        executor: str = "local",
        address: str | None = None,
        gpus_per_task: float = 0,
        base: Path | None = None,
        base_label: str | None = None,
        only: dict[str, set[str]] | None = None,
    ) -> BuildReport:
        """`base`: a release folder whose recorded units fill the store first (`aas build
        --from`); `only`: role -> model names: run just those models' units (and the prompts
        they need) and assemble nothing, for nodes sharing one store."""
        from aas_dataset.engine.assemble import assemble

        claim(self.out, self.recipe.recipe.name, overwrite)  # before any write
        with folder_lock(self.out, f"a build of {self.recipe.recipe.name!r}"):
            self.store.clean_tmp()
            report = BuildReport()
            if base is not None:
                from aas_dataset.engine.hydrate import hydrate

                report.hydrated = hydrate(self.store, Path(base), base_label or str(base))
            plan = self.plan()
            if only:
                plan = Plan(restrict(plan, only))
            bs = self.recipe.recipe.batch_size
            if executor == "ray":
                from aas_dataset.engine.executors import RayExecutor

                runner = RayExecutor(self.store, bs, workers, progress, address, gpus_per_task)
            elif workers > 1:
                runner = ProcessExecutor(self.store, bs, workers, progress)
            else:
                runner = LocalExecutor(self.store, bs, progress)
            units = sum(len(sp.units) for sp in plan)
            how = "ray" if executor == "ray" else f"{workers} worker(s)"
            log.info("%s: %d stages, %d units, %s", self.out, len(plan.stages), units, how)
            for sp in plan:
                report.stats.append(runner.run(sp.stage, sp.units, sp.models))
            if not only:  # a partial run leaves the assembly to a full one
                t0 = time.perf_counter()
                report.manifest, report.assembled = assemble(
                    self, plan, report, force=force_assemble, keep_fuller=not allow_failures
                )
                done = "written" if report.assembled else "up to date"
                log.info("release %s (%.1f s)", done, time.perf_counter() - t0)
        return report
