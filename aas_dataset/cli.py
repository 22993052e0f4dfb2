"""The `aas` command line (typer + rich). Exit codes: 0 ok, 1 check failed, 2 bad input."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from aas_dataset.util import excerpt, redact

# Library chatter (e.g. the tiny tokenizer's truncation notices) would bury the progress bars.
if not os.environ.get("AAS_DEBUG"):
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

console = Console(stderr=True)
out = Console()


class _App(typer.Typer):
    """Every command ends in one line, never a traceback: an error no command anticipated
    (a read-only folder, a full disk, a store file deleted under a build) is printed as its
    type and message, and exits 1. `AAS_DEBUG=1` shows the traceback instead."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(fn):
            @functools.wraps(fn)
            def guarded(*a, **kw):
                try:
                    return fn(*a, **kw)
                except (typer.Exit, typer.Abort, click.exceptions.ClickException, KeyboardInterrupt):
                    raise
                except Exception as e:
                    if os.environ.get("AAS_DEBUG"):
                        raise
                    msg = " ".join(redact(f"{type(e).__name__}: {e}").split())
                    line = f"[red]error:[/red] {escape(msg)} (AAS_DEBUG=1 shows where)"
                    console.print(line, highlight=False, soft_wrap=True)
                    raise typer.Exit(1) from None

            register(guarded)
            return fn

        return decorator


app = _App(
    help="Build, verify, publish and analyse the AAS anti-aesthetic benchmark.",
    no_args_is_help=True,
    add_completion=True,  # `aas --install-completion` for bash, zsh, fish
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from aas_dataset.version import __version__

        out.print(f"aas_dataset {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="log each step and its time to stderr (-v); every batch too (-vv)"
        ),
    ] = 0,
):
    """Build, verify, publish and analyse the AAS anti-aesthetic benchmark."""
    _log_to_stderr(logging.INFO if verbose == 1 else logging.DEBUG if verbose > 1 else None)


class _Redacting(logging.Filter):
    """Secrets never reach a log line: every record is redacted as it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_log_handler: logging.Handler | None = None  # the one this module added to the package's logger


def _log_to_stderr(level: int | None) -> None:
    """The package's log records to stderr at `level`; None: warnings and errors only, no handler
    of ours (the command's own messages say what went wrong)."""
    from rich.logging import RichHandler

    logger = logging.getLogger("aas_dataset")
    global _log_handler
    if _log_handler is not None:  # an earlier command of this process (tests invoke many)
        logger.removeHandler(_log_handler)
        _log_handler = None
    if level is None:
        logger.setLevel(logging.WARNING)
        return
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False)
    else:  # one plain line per record in a log file or a pipe
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redacting())
    logger.addHandler(handler)
    logger.setLevel(level)
    _log_handler = handler


def _role_names() -> list[str]:
    from aas_dataset.catalog import ROLES

    return [*ROLES, "all"]


def _bad_input(msg: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(redact(msg))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


class RichProgress:
    """Per-stage bars with ETA and ok / failed / cached counts."""

    def __init__(self, progress: Progress):
        self.p = progress
        self.tasks: dict[str, int] = {}

    def start(self, stage: str, total: int) -> None:
        self.tasks[stage] = self.p.add_task(stage, total=total, ok=0, failed=0, cached=0)

    def advance(self, stage: str, outcome: str, n: int = 1) -> None:
        t = self.tasks[stage]
        field = "failed" if outcome in ("failed", "blocked") else outcome
        counts = self.p.tasks[t].fields
        self.p.update(t, advance=n, **{field: counts[field] + n})

    def finish(self, stage: str) -> None:
        self.p.refresh()


def _progress(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]ok {task.fields[ok]}[/] [red]failed {task.fields[failed]}[/] [dim]cached {task.fields[cached]}[/]"
        ),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=disable,
    )


@app.command()
def build(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML, e.g. builders/smoke.yaml")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="release folder (default: the recipe's `output`)")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="show units per stage, cached vs to do; run nothing")] = False,
    store: Annotated[
        str | None, typer.Option(help="artifact store: a folder or an fsspec URL (s3://...; default: OUT/.aas/store)")
    ] = None,
    force_assemble: Annotated[bool, typer.Option(help="rewrite the release files even if up to date")] = False,
    workers: Annotated[int, typer.Option(min=1, help="worker processes per backend (e.g. one per GPU)")] = 1,
    overwrite: Annotated[bool, typer.Option(help="replace a release of another recipe in OUT")] = False,
    allow_failures: Annotated[
        bool, typer.Option(help="exit 0 although units failed, and write a release with fewer rows than the one in OUT")
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="local (one process, or --workers processes) or ray", autocompletion=lambda: ["local", "ray"]
        ),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (auto, ray://head:10001); default: a local one")
    ] = None,
    gpus_per_task: Annotated[float, typer.Option(min=0, help="GPUs per Ray task of a local-compute model")] = 0,
    base: Annotated[
        str | None,
        typer.Option("--from", help="start from a release (folder or ORG/NAME): its recorded units are reused"),
    ] = None,
    revision: Annotated[str | None, typer.Option(help="revision of a Hub release given with --from")] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="ROLE=NAME[,NAME] (generator, judge, scorer): run only those models; no assembly"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the build's summary as JSON, no progress")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars; failures and a summary")] = False,
):
    """Build a release folder from a recipe; rerunning resumes and skips finished units.

    Examples: `aas build builders/smoke.yaml` (offline, tiny models), `aas build
    builders/aas_benchmark.yaml --plan`, `aas build builders/aas_benchmark.yaml --workers 8`,
    `aas build my.yaml --from ORG/aas_benchmark --revision v1.0.0` (reuse a release's units)."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder, parse_only
    from aas_dataset.engine.hydrate import record_keys, source_folder
    from aas_dataset.release.writer import ReleaseFolderError
    from aas_dataset.spec.recipe import RecipeError

    if executor not in ("local", "ray"):
        raise _bad_input(f"--executor must be local or ray, not {executor!r}")
    try:
        rr = load_recipe(recipe)
        builder = Builder(rr, out_dir or Path(rr.recipe.output), store)
        restrict_to = parse_only(only or [], rr) if only else None
        base_dir = source_folder(base, revision) if base else None
        if plan:
            _print_plan(builder, record_keys(base_dir) if base_dir else frozenset())
        if problems := builder.preflight():  # before any work: what would fail every unit of a model
            for msg in problems:
                console.print(f"[red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        if plan:
            return
        with _progress(disable=quiet or as_json) as p:
            report = builder.run(
                RichProgress(p),
                force_assemble=force_assemble,
                workers=workers,
                overwrite=overwrite,
                allow_failures=allow_failures,
                executor=executor,
                address=address,
                gpus_per_task=gpus_per_task,
                base=base_dir,
                base_label=f"{base}@{revision}" if revision else base,
                only=restrict_to,
            )
    except (RecipeError, ReleaseFolderError, ValueError) as e:
        raise _bad_input(str(e)) from None
    if as_json:
        out.print_json(json.dumps({
            "release": str(builder.out), "assembled": report.assembled, "model_calls": report.model_calls,
            "stages": [s.as_dict() for s in report.stats], "failures": report.failures, "kept": report.kept,
            "hydrated": report.hydrated.__dict__ if report.hydrated is not None else None,
        }))  # fmt: skip
        if report.failures and not allow_failures:
            raise typer.Exit(1)
        return
    if report.hydrated is not None:
        h = report.hydrated
        out.print(f"from {h.source}: {h.written} units written to the store, {h.present} already there")
    t = Table(title=f"build {rr.recipe.name} -> {builder.out}")
    for col in ("stage", "units", "ok", "cached", "failed", "blocked", "model calls"):
        t.add_column(col, justify="right" if col != "stage" else "left")
    for s in report.stats:
        t.add_row(s.stage, str(s.total), str(s.ok), str(s.cached), str(s.failed), str(s.blocked), str(s.calls))
    if not quiet:
        console.print(t)
    console.print(
        f"model calls: {report.model_calls}; release "
        + ("written" if report.assembled else "not assembled (--only)" if only else "already up to date")
        + f"; {len(report.failures)} failure(s)"
    )
    for f in report.failures[:10]:
        console.print(
            f"  [red]{f['stage']}[/] {f['backend']} {f.get('model', '')} #{f.get('index', '')}: {escape(f['reason'])}",
            highlight=False,
        )
    if report.kept:
        console.print(
            f"[yellow]kept the release in {builder.out}[/]: this build would have fewer rows ({report.kept}) "
            "because units failed; rerun to retry them, or pass --allow-failures",
            highlight=False,
        )
    if report.failures and not allow_failures:  # a systemic failure never exits 0
        console.print(
            f"[red]{len(report.failures)} unit(s) failed or were blocked by a failure[/]; the release holds the "
            "rest. Rerun to retry them "
            "(--allow-failures accepts them)",
            highlight=False,
        )
        raise typer.Exit(1)


def _print_plan(builder, base: frozenset = frozenset()) -> None:
    rr = builder.recipe
    t = Table(title=f"plan for {rr.recipe.name} (recipe {rr.hash[:12]}) -> {builder.out}")
    for col in ("stage", "backends", "units", "cached", "to do"):
        t.add_column(col)
    if builder.captions_available:
        plan = builder.plan()
        for sp, st in zip(plan, builder.status(plan, frozenset(base)), strict=True):
            t.add_row(
                sp.stage.name,
                ", ".join(sp.models) or "-",
                str(st["units"]),
                str(st["cached"]),
                str(st["todo"]),
            )
    else:  # Hub captions not fetched yet: counts from the recipe, cache state unknown
        caps = rr.recipe.captions
        n = caps.count or (caps.hub.limit if caps.hub else None) or 0  # at most: the source may hold fewer
        g = len(rr.generators)
        for stage, backends, units in (
            ("prompts", [rr.rewriter.name], n),
            ("negatives", [rr.negative_writer.name] if rr.negative_writer else [], n if rr.negative_writer else 0),
            ("generate", [m.name for m in rr.generators], n * g),
            ("judge", [m.name for m in rr.judges], n * g * len(rr.judges)),
            ("score", [m.name for m in rr.scorers], n * g * len(rr.scorers)),
        ):
            t.add_row(stage, ", ".join(backends) or "-", str(units), "?", "? (captions not fetched yet)")
    out.print(t)


@app.command()
def models(
    role: Annotated[
        str,
        typer.Option(
            help="generator, scorer, judge, rewriter, negative_writer, embedder, captioner, detector or all",
            autocompletion=_role_names,
        ),
    ] = "generator",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
):
    """List the catalog: name, kind, weights, settings, license, and whether the weights are
    already in the local Hugging Face cache (offline builds need them there).

    Examples: `aas models --role scorer`, `aas models --role all | grep flux` (one line per model
    when the output is not a terminal), `aas models --json`."""
    from aas_dataset.catalog import ROLES, differences, entries, resolve

    if role != "all" and role not in ROLES:
        raise _bad_input(f"unknown role {role!r}; one of {', '.join(ROLES)} or all")
    from aas_dataset.engine.build import _hf_cached_repos

    cached = _hf_cached_repos()
    rows = []
    pairs = [(r, n, e) for r in (ROLES if role == "all" else (role,)) for n, e in entries(r).items()]
    for entry_role, name, e in pairs:
        resolved = resolve(entry_role, name)
        ids = [e.model_id] if e.model_id else []
        for key in ("lora", "single_file"):
            sub = e.settings.get(key) or {}
            ids += [sub["id"]] if "id" in sub else []
            ids += ["/".join(sub["path"].split("/")[3:5])] if sub.get("path", "").startswith("https://") else []
        local = [i for i in ids if "/" in i]
        rows.append(
            {
                "role": entry_role,
                "name": name,
                "display_name": e.display_name or name,
                "kind": e.kind,
                "model_id": e.model_id or "",
                "revision": e.revision or "",
                "pinned": bool(e.revision and len(e.revision) == 40),
                "settings": e.settings,
                "license": e.license,
                "paper_key": e.paper_key or "",
                "paper_run": e.paper_run,
                "paper_settings": e.paper_settings,
                "differences": differences(resolved),
                "texts": resolved.spec.get("texts", []),
                "cached": None if not local else all(i in cached for i in local),
            }
        )
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not sys.stdout.isatty():  # piped (grep, less, a file): one tab-separated line per model, nothing cut
        for r in rows:
            weights = r["model_id"] + (f"@{r['revision']}" if r["revision"] else "")
            fields = (r["role"], r["name"], r["kind"], weights or "-", r["license"], _settings_summary(r["settings"]))
            print("\t".join(fields))
        return
    t = Table(title=f"{role}s in the catalog" if role != "all" else "the catalog")
    for col in ("name", "kind", "weights", "settings", "license", "cached", "vs the authors' run"):
        t.add_column(col, overflow="fold")
    for r in rows:
        vs = r["paper_run"] if r["paper_run"] != "none" else "-"
        if r["paper_run"] != "none":
            vs += ": " + ("; ".join(r["differences"]) or "as run")
        weights = r["model_id"] + (f"@{r['revision']}" if r["revision"] else "")
        if r["model_id"] and r["kind"] not in ("openai_images", "openrouter_image", "replicate") and not r["pinned"]:
            weights += " [yellow](unpinned)[/]"
        cached = {None: "-", True: "[green]yes[/]", False: "no"}[r["cached"]]
        t.add_row(
            r["name"],
            r["kind"],
            weights,
            escape(_settings_summary(r["settings"])),
            escape(r["license"]),
            cached,
            escape(vs),
        )
    out.print(t)


def _settings_summary(st: dict) -> str:
    parts = [str(st[k]) for k in ("pipeline", "dtype") if k in st]
    if "steps" in st:
        parts.append(f"{st['steps']} steps, g {st.get('guidance')}")
    if "width" in st:
        parts.append(f"{st['width']}x{st.get('height')}")
    parts += [k for k in ("lora", "single_file", "compel") if st.get(k)]
    if st.get("mitigation"):
        parts.append(f"{st['mitigation']['method']} {st['mitigation'].get('scale', '')}".strip())
    rest = {
        k: v
        for k, v in st.items()
        if k
        not in {
            "pipeline",
            "dtype",
            "steps",
            "guidance",
            "width",
            "height",
            "lora",
            "single_file",
            "compel",
            "mitigation",
            "base_url",
            "api_key_env",
        }
    }
    return ", ".join(parts + [f"{k}={json.dumps(v)}" for k, v in rest.items()])


@app.command("convert-mps")
def convert_mps_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="MPS_overall_checkpoint.pth (a pickled nn.Module)")],
    out: Annotated[Path, typer.Argument(help="where to write the safetensors")],
):
    """Convert MPS's pickled checkpoint to safetensors in a separate process (the only place
    this package unpickles a file, with stub classes; do it once, for a file you trust).

    Example: `aas convert-mps MPS_overall_checkpoint.pth MPS_overall.safetensors`."""
    import subprocess

    if not checkpoint.is_file():
        raise _bad_input(f"{checkpoint} not found")
    res = subprocess.run(
        [sys.executable, "-m", "aas_dataset.backends.scorers.convert_mps", str(checkpoint), str(out)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        console.print(f"[red]conversion failed:[/] {excerpt(res.stderr.strip(), -600)}")
        raise typer.Exit(1)
    console.print(f"wrote {out} and {out.with_suffix('.json')}: {res.stdout.strip()}")


def _rows_per_model(folder: Path, m: dict) -> dict[str, int]:
    """Rows of the `scores` config (the pairs without images) per model."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    for rel in sorted(p for p, f in m["files"].items() if f.get("config") == "scores"):
        for name in pq.read_table(folder / rel, columns=["model"]).column("model").to_pylist():
            counts[name] = counts.get(name, 0) + 1
    return counts


@app.command("verify")
def verify_cmd(
    folder: Annotated[Path, typer.Argument(help="release folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print {ok, checked, problems} as JSON")] = False,
):
    """Check every file against MANIFEST.json (sha256, size, rows, schema).

    Example: `aas verify aas_benchmark && echo ok` (exit 1 names each problem)."""
    from aas_dataset.release.manifest import verify

    res = verify(folder)
    if as_json:
        out.print_json(json.dumps({"ok": res.ok, "checked": res.checked, "problems": res.problems}))
        if not res.ok:
            raise typer.Exit(1)
        return
    if res.ok:
        out.print(f"[green]ok[/]: {res.checked} files match MANIFEST.json")
        return
    for p in res.problems:
        console.print(f"[red]FAIL[/] {p}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def info(
    folder: Annotated[Path, typer.Argument(help="release folder")],
    as_json: Annotated[
        bool, typer.Option("--json", help="print configs, per-model rows, counts, usage, failures")
    ] = False,
):
    """Counts, sizes and failures of a release folder, with the rows per model.

    Examples: `aas info aas_benchmark`, `aas info aas_benchmark --json | jq .rows_per_model`."""
    from aas_dataset.release.manifest import read_manifest

    try:
        m = read_manifest(folder)
    except (FileNotFoundError, ValueError) as e:
        raise _bad_input(str(e)) from None
    by: dict[str, list] = {}
    for _rel, f in m["files"].items():
        if kind := f.get("config") or f.get("export"):  # the card, MANIFEST and build records are no config
            by.setdefault(kind, []).append(f)
    configs = {
        cfg: {"files": len(fs), "rows": sum(f.get("rows") or 0 for f in fs), "bytes": sum(f["bytes"] for f in fs)}
        for cfg, fs in by.items()
    }
    per_model = _rows_per_model(folder, m)
    if as_json:
        keep = ("name", "version", "recipe_hash", "counts", "usage", "failures")
        out.print_json(json.dumps({**{k: m.get(k) for k in keep}, "configs": configs, "rows_per_model": per_model}))
        return
    out.print(f"[bold]{m['name']}[/] v{m['version']}  recipe {m['recipe_hash'][:12]}")
    t = Table("config", "files", "rows", "bytes")
    for cfg, c in configs.items():
        t.add_row(cfg, str(c["files"]), str(c["rows"]), f"{c['bytes']:,}")
    out.print(t)
    if per_model:
        out.print("rows per model: " + ", ".join(f"{k} {v}" for k, v in per_model.items()), highlight=False)
    out.print("counts: " + json.dumps(m["counts"], sort_keys=True))
    for stage, backends in m.get("usage", {}).items():
        for name, u in backends.items():
            out.print(
                f"usage {stage} {name}: {u['requests']} requests, {u['prompt_tokens']:,} prompt + "
                f"{u['completion_tokens']:,} completion tokens, ~${u['cost_usd']:.4f}"
            )
    fails = m.get("failures", [])
    out.print(f"failures: {len(fails)}")
    for f in fails:
        out.print(
            f"  {f['stage']} {f['backend']} {f.get('model', '')} #{f.get('index', '')}: {escape(f['reason'])}",
            highlight=False,
        )


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="release folder")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="default: FOLDER/report")] = None,
    n_boot: Annotated[int, typer.Option(min=0, help="bootstrap resamples per cell")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    gallery_limit: Annotated[int, typer.Option(min=0, help="pairs per gallery page (every pair is shown)")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="print the tables as JSON instead of Markdown")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print only where the report was written")] = False,
):
    """Tables (Markdown, CSV, JSON), plots and an HTML gallery from a release folder.

    Example: `aas report aas_benchmark --n-boot 200`, then open aas_benchmark/report/index.html."""
    from aas_dataset.analysis.report import build_report

    try:
        with console.status("report", spinner="dots") as status:
            show = None if quiet or as_json else lambda step: status.update(f"report: {step}")
            res = build_report(folder, out_dir, n_boot=n_boot, seed=seed, gallery_limit=gallery_limit, progress=show)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise _bad_input(str(e)) from None
    if as_json:
        out.print_json(json.dumps({"out": str(res.out), "tables": [json.loads(t.to_json()) for t in res.tables],
                                   "files": res.files, "failures": res.failures}))  # fmt: skip
    elif not quiet:
        for t in res.tables:
            out.print(t.to_markdown(), highlight=False, markup=False, soft_wrap=True)
    if not as_json:
        out.print(f"wrote {len(res.files)} files to {res.out}")
    if res.failures:  # the report is written; rows it could not show are named and the run is not a success
        for f in res.failures[:10]:
            console.print(f"[red]image does not decode[/] {escape(f)}", highlight=False, soft_wrap=True)
        console.print(f"[red]{len(res.failures)} image(s) in the gallery do not decode[/]", highlight=False)
        raise typer.Exit(1)


@app.command()
def annotate(
    folder: Annotated[Path, typer.Argument(help="release folder")],
    host: Annotated[str, typer.Option(help="address to listen on (loopback unless you give a token)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8765,
    blind: Annotated[bool, typer.Option(help="hide model names and judge labels")] = True,
    seed: Annotated[int, typer.Option(help="seed of each rater's pair order and image sides")] = 0,
):
    """A local web app in which people judge the release's pairs (the human check of the judge).
    Answers go to FOLDER/annotations/answers.sqlite; `aas report` adds the agreement tables.

    Example: `aas annotate aas_benchmark --port 8765`, then open http://127.0.0.1:8765/."""
    import os

    from aas_dataset.analysis.annotate import serve
    from aas_dataset.analysis.answers import read_pairs

    try:
        n = len(read_pairs(folder))
    except (FileNotFoundError, ValueError) as e:
        raise _bad_input(str(e)) from None
    token = os.environ.get("AAS_ANNOTATE_TOKEN") or None
    where = f"http://{host}:{port}/" + (f"?token={'<AAS_ANNOTATE_TOKEN>'}" if token else "")
    out.print(f"annotating {n} pairs of {folder} at {where} (Ctrl-C stops; answers are saved as they are given)")
    try:
        serve(folder, host, port, blind=blind, token=token, seed=seed)
    except ValueError as e:
        raise _bad_input(str(e)) from None


@app.command()
def diff(
    before: Annotated[str, typer.Argument(help="release folder, or ORG/NAME@revision on the Hub")],
    after: Annotated[str, typer.Argument(help="release folder, or ORG/NAME@revision on the Hub")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
):
    """What changed between two releases (configs, rows, columns, models, files) and the version
    bump it needs (PATCH / MINOR / MAJOR).

    Examples: `aas diff old_release new_release`, `aas diff ORG/aas_benchmark@v1.0.0 aas_benchmark --json`."""
    from aas_dataset.release.diff import diff_releases

    try:
        d = diff_releases(_release_folder(before), _release_folder(after))
    except (FileNotFoundError, ValueError) as e:
        raise _bad_input(str(e)) from None
    if as_json:
        out.print_json(json.dumps(d.as_dict()))
        return
    out.print(f"{before} -> {after}: {d.level.upper()}", highlight=False)
    for r in d.reasons():
        out.print(f"  {r}", highlight=False)
    out.print(d.to_markdown(), highlight=False, markup=False)


def _release_folder(where: str) -> Path:
    """A local release folder, or a Hub revision (`ORG/NAME@rev`) fetched to the local cache."""
    if Path(where).exists() or "@" not in where:
        return Path(where)
    from huggingface_hub import snapshot_download

    repo, _, rev = where.partition("@")
    return Path(snapshot_download(repo, repo_type="dataset", revision=rev))


@app.command("eval-reward")
def eval_reward(
    data_arg: Annotated[str | None, typer.Argument(metavar="RELEASE", help="release folder or Hub repo id")] = None,
    scorer: Annotated[
        str, typer.Option(help="catalog scorer name, module:Class with score(images, prompts), or module:function")
    ] = "",
    data: Annotated[str | None, typer.Option(help="release folder or Hub repo id (or give it as RELEASE)")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="save per-pair scores and the table here; a rerun resumes")
    ] = None,
    revision: Annotated[str | None, typer.Option(help="Hub revision")] = None,
    ground_truth: Annotated[
        str | None, typer.Option(help="judge used as ground truth (default: the release's)")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    n_boot: Annotated[int, typer.Option(min=0, help="bootstrap resamples per cell")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="catalog scorer setting KEY=VALUE (JSON value), repeatable")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the table as JSON, no progress")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
):
    """Score the benchmark's pairs with your reward model; print its row beside the release's rows.

    Example: `aas eval-reward aas_benchmark --scorer my_scorer:DarknessScorer --out runs/darkness`."""
    from aas_dataset.analysis.evaluate import evaluate_reward_model

    data = data_arg or data
    if not data or not scorer:
        raise _bad_input("give the release (RELEASE or --data) and --scorer")
    overrides = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise _bad_input(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    sys.path.insert(0, os.getcwd())  # so module:Class finds the user's file in the current folder
    try:
        with _progress(disable=quiet or as_json) as p:
            task = p.add_task("score", total=None, ok=0, failed=0, cached=0)
            table = evaluate_reward_model(
                scorer,
                data,
                ground_truth=ground_truth,
                revision=revision,
                batch_size=batch_size,
                n_boot=n_boot,
                seed=seed,
                settings=overrides or None,
                out=out_dir,
                progress=lambda done, total: p.update(task, completed=done, total=total, ok=done),
            )
    except (ValueError, KeyError, ImportError, AttributeError, OSError) as e:  # OSError: files, Hub, network
        raise _bad_input(f"{type(e).__name__}: {e}") from None
    if as_json:
        out.print_json(json.dumps({**json.loads(table.to_json()), "failures": table.failures}))
    else:
        out.print(table.to_markdown(), highlight=False, markup=False, soft_wrap=True)
    if table.failures:  # the table holds the rest; a run that lost rows does not exit 0
        for f in table.failures[:10]:
            console.print(f"[red]not scored[/] {escape(f)}", highlight=False, soft_wrap=True)
        console.print(f"[red]{len(table.failures)} pair(s) not scored[/]: an image does not decode", highlight=False)
        raise typer.Exit(1)


@app.command("import-hf")
def import_hf_cmd(
    source: Annotated[str, typer.Argument(help="Hub dataset id (e.g. weathon/aas_benchmark_final) or a local folder")],
    out_dir: Annotated[Path, typer.Option("--out", help="release folder to write")],
    revision: Annotated[str | None, typer.Option(help="Hub revision (tag, branch, commit)")] = None,
    official_dir: Annotated[
        str | None,
        typer.Option(help="a copy of weathon/AAS, for the rewriter's effect texts (default: fetched once)"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace another release in OUT")] = False,
):
    """Convert the authors' published layouts into a release folder of ours.

    Example: `aas import-hf weathon/aas_benchmark_final --out aas_paper`, then `aas report aas_paper`."""
    from aas_dataset.release.importers import ImportFormatError, import_hf
    from aas_dataset.release.manifest import verify
    from aas_dataset.release.writer import ReleaseFolderError

    try:
        m = import_hf(source, out_dir, revision, official_dir, overwrite)
    except (ImportFormatError, ReleaseFolderError, OSError) as e:  # OSError: a missing folder, the Hub unreachable
        raise _bad_input(f"{e}") from None
    res = verify(out_dir)
    if not res.ok:
        for p in res.problems:
            console.print(f"[red]FAIL[/] {p}", highlight=False)
        raise typer.Exit(1)
    out.print(
        f"imported {m['recipe']['import']['layout']} from {m['recipe']['import']['source']}: " + json.dumps(m["counts"])
    )


@app.command("export-webdataset")
def export_webdataset_cmd(folder: Annotated[Path, typer.Argument(help="release folder")]):
    """Write webdataset/pairs/*.tar from the pairs shards and record them in MANIFEST.

    Example: `aas export-webdataset aas_benchmark`."""
    from aas_dataset.release.webdataset import export_webdataset

    try:
        files = export_webdataset(folder)
    except (FileNotFoundError, ValueError) as e:
        raise _bad_input(str(e)) from None
    out.print(f"wrote {len(files)} shard(s): " + ", ".join(files))


@app.command()
def release(
    folder: Annotated[Path, typer.Argument(help="release folder")],
    repo_id: Annotated[str, typer.Option(help="Hub dataset repo, ORG/NAME")],
    tag: Annotated[str, typer.Option(help="release tag, vX.Y.Z")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="verify and print the plan; upload nothing")] = False,
    private: Annotated[bool, typer.Option(help="create the repo as private")] = False,
):
    """Verify, upload to the Hub and tag. The token comes from HF_TOKEN or `hf auth login`.

    Examples: `aas release aas_benchmark --repo-id ORG/aas_benchmark --tag v1.0.0 --dry-run`, then
    without `--dry-run`."""
    from aas_dataset.release.hub import ReleaseError, plan_release, publish

    try:
        plan = plan_release(folder, repo_id, tag)
    except ReleaseError as e:
        raise _bad_input(str(e)) from None
    out.print(f"release {folder} -> {plan.repo_id} @ {plan.tag}: {len(plan.files)} files, {plan.total_bytes:,} bytes")
    for rel, size in plan.files:
        out.print(f"  {rel}  {size:,}")
    from huggingface_hub import get_token
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    if dry_run:
        token = "present" if get_token() else "missing (set HF_TOKEN or run `hf auth login`)"
        out.print("verify: passed (every file matches MANIFEST.json)")
        out.print(f"token: {token}; repo visibility: {'private' if private else 'public'}")
        out.print(f'commit message: "Release {plan.tag}"; tag: {plan.tag} on that commit')
        out.print("dry run: nothing uploaded (the version check against the latest tag runs at release)")
        return

    if not get_token():  # before any Hub call: the answer must not depend on the network
        raise _bad_input("no Hub token: set HF_TOKEN or run `hf auth login`")
    from aas_dataset.analysis.report import results_markdown
    from aas_dataset.release.diff import write_section

    write_section(folder, "results", results_markdown(folder))  # the card shows the paper's tables
    try:
        sha = publish(folder, plan, private=private)
    except ReleaseError as e:
        raise _bad_input(str(e)) from None
    except LocalTokenNotFoundError:
        raise _bad_input("no Hub token: set HF_TOKEN or run `hf auth login`") from None
    except (HfHubHTTPError, OSError, ValueError) as e:  # refused, offline, unreachable: no traceback
        msg = redact(str(e)).splitlines()[0] if str(e) else ""
        console.print(f"[red]Hub error:[/red] {type(e).__name__}: {escape(msg)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"[green]released[/] {plan.repo_id}@{plan.tag} (commit {sha})")
