"""A recipe resolved against the catalog: every model reference validated, with its full spec.

Every problem becomes one `RecipeError` line naming the file and the key, before anything is
written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from aas_dataset import catalog
from aas_dataset.catalog import CatalogError, ResolvedModel
from aas_dataset.spec.recipe import ModelRef, Recipe, RecipeError
from aas_dataset.spec.schema import NAME_RE
from aas_dataset.util import digest


class ResolvedRecipe:
    """A recipe whose model references are resolved and whose settings are validated."""

    def __init__(self, recipe: Recipe, path: Path | None):
        self.recipe = recipe
        self.path = path
        self.base_dir = path.parent if path else Path.cwd()
        self.rewriter = self._resolve("rewriter", recipe.rewriter, "rewriter") if recipe.rewriter else None
        self.negative_writer = (
            self._resolve("negative_writer", recipe.negative_writer, "negative_writer")
            if recipe.negative_writer
            else None
        )
        self.generators = self._resolve_list("generator", recipe.generators, "generators")
        self.judges = self._resolve_list("judge", recipe.judges, "judges")
        self.scorers = self._resolve_list("scorer", recipe.scorers, "scorers")
        for key, models in (("judges", self.judges), ("scorers", self.scorers)):
            for i, m in enumerate(models):
                if not NAME_RE.match(m.name):
                    raise RecipeError(f"{self._where}: {key}.{i}: name {m.name!r} must match {NAME_RE.pattern}")

        self.real_photos_models: dict[str, ResolvedModel] = {}
        self.real_photos_commits: dict = {}
        if rp := recipe.real_photos:
            self.real_photos_models = {
                "embedder": self._resolve("embedder", rp.retrieval.embedder, "real_photos.retrieval.embedder"),
                "curator": self._resolve("captioner", rp.curator, "real_photos.curator"),
                "twin_generator": self._resolve("generator", rp.twin_generator, "real_photos.twin_generator"),
            }
            try:
                self.real_photos_commits = rp.retrieval.resolved_commits(self.base_dir)
            except ValueError as e:
                raise RecipeError(f"{self._where}: real_photos.retrieval: {e}") from None
        self.artworks_models: dict[str, ResolvedModel] = {}
        if art := recipe.artworks:
            self.artworks_models = {"captioner": self._resolve("captioner", art.captioner, "artworks.captioner")}
            names = [m.name for m in self.scorers]
            if art.leaderboard_scorer and art.leaderboard_scorer not in names:
                where = f"{self._where}: artworks.leaderboard_scorer"
                raise RecipeError(f"{where}: {art.leaderboard_scorer!r} is not one of the scorers {names}")

        self.study_models: dict[str, ResolvedModel] = {}
        if emo := recipe.emotion_bias:
            gen = self._resolve("generator", emo.generator, "emotion_bias.generator")
            from aas_dataset.backends import backend_class
            from aas_dataset.backends.base import Generator

            if backend_class("generator", gen.entry.kind).edit is Generator.edit:
                raise RecipeError(f"{self._where}: emotion_bias.generator: {gen.name!r} cannot edit images")
            self.study_models = {
                "emotion_generator": gen,
                "emotion_captioner": self._resolve("captioner", emo.captioner, "emotion_bias.captioner"),
            }

        self.editors: list[ResolvedModel] = []
        if i2i := recipe.image_to_image:
            from aas_dataset.backends import backend_class
            from aas_dataset.backends.base import Generator

            for n, ref in enumerate(i2i.editors):
                ed = self._resolve("generator", ref, f"image_to_image.editors.{n}")
                if backend_class("generator", ed.entry.kind).edit is Generator.edit:
                    raise RecipeError(f"{self._where}: image_to_image.editors.{n}: {ed.name!r} cannot edit images")
                self.editors.append(ed)

        self.emotion_generators: list[ResolvedModel] = []
        self.detector: ResolvedModel | None = None
        if eg := recipe.emotion_generation:
            self.emotion_generators = [
                self._resolve("generator", ref, f"emotion_generation.generators.{n}")
                for n, ref in enumerate(eg.generators)
            ]
            self.detector = self._resolve("detector", eg.detector, "emotion_generation.detector")

        judges = [j.name for j in self.judges if not self._absolute(j)]
        if recipe.ground_truth is not None and recipe.ground_truth not in judges:
            raise RecipeError(f"{self._where}: ground_truth: {recipe.ground_truth!r} is not one of the judges {judges}")
        gens = {g.name for g in self.generators}
        for i, c in enumerate(recipe.comparisons):
            for side in ("aligned", "base"):
                if getattr(c, side) not in gens:
                    raise RecipeError(f"{self._where}: comparisons.{i}.{side}: {getattr(c, side)!r} is not a generator")

    @staticmethod
    def _absolute(model: ResolvedModel) -> bool:
        return model.traits["absolute"]

    @property
    def pairwise_judges(self) -> list[ResolvedModel]:
        return [j for j in self.judges if not self._absolute(j)]

    @property
    def absolute_judges(self) -> list[ResolvedModel]:
        return [j for j in self.judges if self._absolute(j)]

    @property
    def ground_truth(self) -> str | None:
        pairwise = self.pairwise_judges
        return self.recipe.ground_truth or (pairwise[0].name if pairwise else None)

    @property
    def _where(self) -> str:
        return str(self.path) if self.path else "recipe"

    def _resolve(self, role: str, ref: ModelRef, key: str) -> ResolvedModel:
        overrides = dict(ref.settings)
        ep = self.recipe.llm_endpoint
        entry = {**catalog.entries(role), **self.recipe.catalog.for_role(role)}.get(ref.name)
        if ep and entry is not None and "base_url" in entry.settings:  # an LLM-backed entry
            overrides = {
                "base_url": ep.base_url,
                **({"api_key_env": ep.api_key_env} if ep.api_key_env else {}),
                **overrides,
            }
        try:
            return catalog.resolve(role, ref.name, overrides, self.recipe.catalog.for_role(role))
        except CatalogError as e:
            raise RecipeError(f"{self._where}: {key}: {e}") from None

    def _resolve_list(self, role: str, refs: list[ModelRef], key: str) -> list[ResolvedModel]:
        names = [r.name for r in refs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise RecipeError(f"{self._where}: {key}: {', '.join(dup)} listed more than once")
        return [self._resolve(role, r, f"{key}.{i}") for i, r in enumerate(refs)]

    def resolved_dict(self) -> dict:
        """The recipe with every model's full spec: what MANIFEST records and hashes."""
        d = self.recipe.model_dump(mode="json")
        d["rewriter"] = self.rewriter.spec if self.rewriter else None
        d["negative_writer"] = self.negative_writer.spec if self.negative_writer else None
        d["generators"] = [g.spec for g in self.generators]
        d["judges"] = [j.spec for j in self.judges]
        d["scorers"] = [s.spec for s in self.scorers]
        d["ground_truth"] = self.ground_truth
        if self.real_photos_models:
            m = self.real_photos_models
            d["real_photos"]["retrieval"]["embedder"] = m["embedder"].spec
            d["real_photos"]["retrieval"]["commits"] = {
                tag: [c.model_dump(mode="json", exclude={"dataset", "images", "size"}, exclude_none=True) for c in cs]
                for tag, cs in self.real_photos_commits.items()
            }
            d["real_photos"]["curator"] = m["curator"].spec
            d["real_photos"]["twin_generator"] = m["twin_generator"].spec
        if self.artworks_models:
            d["artworks"]["captioner"] = self.artworks_models["captioner"].spec
        if self.editors:
            d["image_to_image"]["editors"] = [e.spec for e in self.editors]
        if self.detector:
            d["emotion_generation"]["generators"] = [g.spec for g in self.emotion_generators]
            d["emotion_generation"]["detector"] = self.detector.spec
        if self.study_models:
            d["emotion_bias"]["generator"] = self.study_models["emotion_generator"].spec
            d["emotion_bias"]["captioner"] = self.study_models["emotion_captioner"].spec
        return d

    @property
    def reference_models(self) -> list[ResolvedModel]:
        models = [*self.real_photos_models.values(), *self.artworks_models.values(), *self.study_models.values()]
        return models + self.editors + self.emotion_generators + ([self.detector] if self.detector else [])

    @property
    def hash(self) -> str:
        return digest(self.resolved_dict())


def _format_error(path: str, e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{path}: {loc}: {msg}"


def parse_recipe(data: Any, where: str = "recipe", path: Path | None = None) -> ResolvedRecipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: a recipe must be a mapping, got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_format_error(where, e)) from None
    return ResolvedRecipe(recipe, path)


def load_recipe(path: str | Path) -> ResolvedRecipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    return parse_recipe(data, str(path), path)
