"""The Python API: the `aas` commands as functions, for notebooks and scripts.

    import aas_dataset as aas
    report = aas.build("builders/smoke.yaml", "aas_benchmark")       # aas build
    assert aas.verify("aas_benchmark").ok                             # aas verify
    tables = aas.report("aas_benchmark").tables                      # aas report
    aas.export_webdataset("aas_benchmark")                           # aas export-webdataset
    aas.release("aas_benchmark", "ORG/aas_benchmark", "v1.0.0")      # aas release (HF_TOKEN)
    pairs = aas.load("pairs", source="aas_benchmark")                # the loader
    table = aas.evaluate_reward_model(my_scorer, "aas_benchmark")    # aas eval-reward
    change = aas.diff("v1_folder", "v2_folder")                      # aas diff

Each raises what the command prints as its one-line error (RecipeError, ReleaseError,
ValueError, ...) instead of exiting.
"""

from __future__ import annotations

from pathlib import Path


def build(recipe: str | Path, out: str | Path | None = None, *, store: str | None = None, **run_options):
    """Build (or resume) a release folder from a recipe; `run_options` are `Builder.run`'s
    (workers, executor, address, base, only, allow_failures, overwrite, ...). Returns the
    BuildReport. A preflight problem (a missing key, weights not cached offline) is a ValueError."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    rr = load_recipe(recipe)
    builder = Builder(rr, Path(out or rr.recipe.output), store)
    if problems := builder.preflight():
        raise ValueError("; ".join(problems))
    return builder.run(**run_options)


def verify(folder: str | Path):
    """Every file of a release against its MANIFEST (a VerifyResult: `.ok`, `.problems`)."""
    from aas_dataset.release.manifest import verify as _verify

    return _verify(Path(folder))


def report(folder: str | Path, out: str | Path | None = None, **options):
    """The report's tables, plots and galleries (a ReportResult: `.tables`, `.files`)."""
    from aas_dataset.analysis.report import build_report

    return build_report(Path(folder), out, **options)


def export_webdataset(folder: str | Path) -> list[str]:
    from aas_dataset.release.webdataset import export_webdataset as _export

    return _export(Path(folder))


def release(folder: str | Path, repo_id: str, tag: str, *, private: bool = False) -> str:
    """Verify, check the version against the latest tag, upload and tag; returns the commit."""
    from aas_dataset.analysis.report import results_markdown
    from aas_dataset.release.diff import write_section
    from aas_dataset.release.hub import plan_release, publish

    plan = plan_release(Path(folder), repo_id, tag)
    write_section(Path(folder), "results", results_markdown(folder))  # the card shows the results
    return publish(Path(folder), plan, private=private)


def diff(before: str | Path, after: str | Path):
    """What changed between two release folders, and the version bump it needs."""
    from aas_dataset.release.diff import diff_releases

    return diff_releases(Path(before), Path(after))
