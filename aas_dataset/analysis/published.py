"""The paper's published values, shown beside ours where the release measures the same thing.

`published.csv` (shipped with the package) holds one published number per line: the table and
row (our catalog names), the column (our column name), the value, the models the number
depends on and where it was published. A value is shown for a release only when every one of
those models is in the release as the authors ran it: the catalog's entry of one of their runs,
at its catalog settings (file locations and device aside), real weights and the authors' texts;
`gt=NAME` also requires NAME to be the release's ground truth. In a release imported from the
authors' files every model counts as theirs; the models a value depends on must still all be
in it (the reward-model table's values need all ten generators' rows).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from aas_dataset.analysis.metrics.core import Table

PUBLISHED_CSV = Path(__file__).with_name("published.csv")
# settings that say where a model's files are or where it runs, not what it computes
_LOCATION_SETTINGS = frozenset({"device", "checkpoint", "weights", "official_dir"})
_ROLES = (("generators", "generator"), ("judges", "judge"), ("scorers", "scorer"))


@dataclass(frozen=True)
class PublishedValue:
    table: str
    row: str
    column: str
    value: float
    models: tuple[str, ...]
    source: str


def published_values(path: Path = PUBLISHED_CSV) -> list[PublishedValue]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        PublishedValue(r["table"], r["row"], r["column"], float(r["value"]), tuple(r["models"].split()), r["source"])
        for r in rows
    ]


def _as_run_for_the_paper(role: str, spec: dict) -> bool:
    from aas_dataset import catalog

    entry = catalog.entries(role).get(spec.get("name"))
    if entry is None or entry.paper_run == "none":
        return False
    try:
        default = catalog.resolve(role, spec["name"], {}).spec
    except catalog.CatalogError:
        return False
    if any(spec.get(k) != default.get(k) for k in ("kind", "model_id", "revision", "texts")):
        return False
    ours = {k: v for k, v in (spec.get("settings") or {}).items() if k not in _LOCATION_SETTINGS}
    theirs = {k: v for k, v in default["settings"].items() if k not in _LOCATION_SETTINGS}
    return ours == theirs


# The generator that made the faces of the authors' published emotion-bias set (a fact of the
# paper's study; an import of that set records no recipe to read it from).
_IMPORTED_STUDY_GENERATORS = {"emotion_bias": "nano-banana"}


def models_in_columns(columns) -> set[str]:
    """Scorer, judge and rater names of a config's flat columns (`score_x.didp`, `label_j`, ...)."""
    out = set()
    for c in columns:
        head = c.split(".")[0]
        for prefix in ("score_", "label_", "rater_", "judge100_"):
            if head.startswith(prefix):
                out.add(head[len(prefix) :])
    return out


def study_generators(manifest: dict, study: str) -> set[str]:
    """The generator of a side study (emotion_bias), from the recipe or, for an import of the
    authors' set, the one that made it."""
    recipe = manifest.get("recipe") or {}
    if recipe.get("import", {}).get("layout") == study:
        return {_IMPORTED_STUDY_GENERATORS[study]}
    gen = (recipe.get(study) or {}).get("generator")
    return {gen["name"]} if isinstance(gen, dict) else set()


def _specs(recipe: dict) -> list[tuple[str, dict]]:
    """Every model spec a resolved recipe records (MANIFEST `recipe`), with its catalog role."""
    out = [(role, s) for key, role in _ROLES for s in recipe.get(key) or []]
    sections = {name: recipe.get(name) or {} for name in ("emotion_bias", "image_to_image", "emotion_generation")}
    out.append(("generator", sections["emotion_bias"].get("generator")))
    out += [("generator", s) for s in sections["image_to_image"].get("editors") or []]
    out += [("generator", s) for s in sections["emotion_generation"].get("generators") or []]
    out.append(("detector", sections["emotion_generation"].get("detector")))
    return [(role, s) for role, s in out if isinstance(s, dict)]


def paper_models(manifest: dict, present: set[str]) -> set[str]:
    """Names of the release's models that ran as for the authors' runs; in a release imported
    from the authors' files, every model `present` in its data."""
    recipe = manifest.get("recipe") or {}
    if "import" in recipe:
        return set(present)
    return {s["name"] for role, s in _specs(recipe) if _as_run_for_the_paper(role, s)}


def attach_published(
    tables: list[Table], manifest: dict, present: set[str], values: list[PublishedValue] | None = None
) -> int:
    """Sets `table.published[(row, column)]` for every published value that applies to this
    release (`present`: the model names its data holds) and names a row and column the table
    has; returns how many were attached."""
    names = paper_models(manifest, present)
    gt = (manifest.get("recipe") or {}).get("ground_truth")

    def applies(v: PublishedValue) -> bool:
        for m in v.models:
            name = m.removeprefix("gt=")
            if m.startswith("gt=") and name != gt:
                return False
            if name not in names:
                return False
        return True

    by_table: dict[str, list[PublishedValue]] = {}
    for v in values if values is not None else published_values():
        by_table.setdefault(v.table, []).append(v)
    attached = 0
    for t in tables:
        rows = {t.row_label(r) for r in t.rows}
        for v in by_table.get(t.name, []):
            if v.row in rows and v.column in t.columns and applies(v):
                t.published[(v.row, v.column)] = v.value
                t.published_sources.add(v.source)
                attached += 1
    return attached
