"""`aas report DIR`: the paper's tables (Markdown, CSV, JSON), plots (PNG) and a
self-contained HTML gallery, from a release folder. Written to DIR/report/ (never part of the
release: verify and release ignore it)."""

from __future__ import annotations

import functools
import html
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aas_dataset.analysis.answers import ANSWERS, Answers
from aas_dataset.analysis.gallery import gallery_pages, thumb_url
from aas_dataset.analysis.metrics import (
    classification_table,
    comparison_table,
    dimension_table,
    emotion_bias_table,
    generator_table,
    j_by_dimension_table,
    judge_agreement_table,
    read_frame,
    shift_by_dimension_table,
)
from aas_dataset.analysis.metrics.agreement import human_agreement_tables
from aas_dataset.analysis.metrics.core import N_BOOT, Cell, Table, display_header
from aas_dataset.analysis.metrics.references import artworks_table, real_photos_table
from aas_dataset.analysis.metrics.studies import (
    emotion_generation_tables,
    judge_reward_correlation_table,
    mitigation_of,
    mitigation_table,
)
from aas_dataset.analysis.metrics.tables import rater_names, score_names
from aas_dataset.analysis.published import attach_published, models_in_columns, study_generators
from aas_dataset.release.manifest import read_manifest
from aas_dataset.spec.images import ImageProblem
from aas_dataset.util import write_bytes_atomic

REPORT_DIR = "report"
log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    out: Path
    tables: list[Table] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # shown rows whose stored image does not decode


class _Steps:
    """Names the step under way (for a progress display) and logs how long each one took."""

    def __init__(self, progress: Callable[[str], None] | None):
        self.progress, self.name, self.t0 = progress, "", 0.0

    def __call__(self, name: str) -> None:
        self.done()
        self.name, self.t0 = name, time.perf_counter()
        if self.progress:
            self.progress(name)

    def done(self) -> None:
        if self.name:
            log.info("report: %s (%.1f s)", self.name, time.perf_counter() - self.t0)
        self.name = ""


def build_report(
    folder: Path,
    out: Path | None = None,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    gallery_limit: int = 200,
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """`progress(step)` is called as each step (a table's bootstrap, the plots, the gallery) starts."""
    step = _Steps(progress)
    folder = Path(folder)
    m = read_manifest(folder)
    recipe = m.get("recipe", {})
    out = Path(out) if out else folder / REPORT_DIR
    res = ReportResult(out)
    configs = {f.get("config") for f in m["files"].values()}
    gt = recipe.get("ground_truth")
    present: set[str] = set()  # the model names the release's data holds, for the published values
    if "scores" in configs:
        step("reading the scores")
        df = read_frame(folder, "scores")
        present |= set(df["model"]) | models_in_columns(df.columns)
        if gt is None:
            labels = [c[len("label_") :] for c in df.columns if c.startswith("label_")]
            gt = labels[0] if labels else None
        step("bootstrapping the generator table")
        res.tables.append(generator_table(df, gt, n_boot=n_boot, seed=seed))
        if gt:
            step("bootstrapping the reward-model table")
            res.tables.append(classification_table(df, gt, n_boot=n_boot, seed=seed))
            if "selected_dims" in df:
                step("bootstrapping success by dimension")
                res.tables.append(dimension_table(df, gt, n_boot=n_boot, seed=seed))
        if "selected_dims" in df:
            step("bootstrapping the shifts by dimension")
            res.tables.append(shift_by_dimension_table(df, n_boot=n_boot, seed=seed))
            res.tables += [j_by_dimension_table(df, r, n_boot=n_boot, seed=seed) for r in rater_names(df)]
            if sum(c.startswith("label_") for c in df.columns) > 1:
                step("bootstrapping judge agreement")
                res.tables.append(judge_agreement_table(df, gt, n_boot=n_boot, seed=seed))
        comps = [(c["aligned"], c["base"]) for c in recipe.get("comparisons", [])]
        if comps:
            step("bootstrapping the aligned-vs-base tests")
            res.tables.append(comparison_table(df, comps, gt, n_boot=n_boot, seed=seed))
        if any(mitigation_of(s)[0] != "none" for s in dict.fromkeys(df.get("generator_settings", []))):
            step("bootstrapping the mitigation table")
            res.tables.append(mitigation_table(df, n_boot=n_boot, seed=seed))
        for judge in sorted({c.split(".")[0][len("judge100_") :] for c in df.columns if c.startswith("judge100_")}):
            step(f"bootstrapping the {judge} grade correlations")
            res.tables.append(judge_reward_correlation_table(df, judge, n_boot=n_boot, seed=seed))
        if gt and (folder / ANSWERS).is_file():  # people's answers from `aas annotate`
            step("bootstrapping agreement with people")
            labels = {
                (m, int(i)): (None if pd.isna(v) else int(v))
                for m, i, v in zip(df["model"], df["index"], df[f"label_{gt}"], strict=True)
            }
            res.tables += human_agreement_tables(Answers(folder / ANSWERS).all(), labels, gt, n_boot=n_boot, seed=seed)
    if "emotion_generation" in configs:
        step("bootstrapping the emotion-generation tables")
        frame = read_frame(folder, "emotion_generation", without=("image", "face_image"))
        res.tables += emotion_generation_tables(frame, n_boot=n_boot, seed=seed)
    if "img2img" in configs:
        step("bootstrapping the image-to-image table")
        t = generator_table(
            read_frame(folder, "img2img", without=("image_input", "image_edited")), None, n_boot=n_boot, seed=seed
        )
        t.name, t.title = (
            "image_to_image",
            "Image-to-image: the edit minus its input (Δ under p_o; ΔJ over all 11 dimensions)",
        )
        t.notes.append("Rows: the source release's I_a chosen by the recipe, re-generated from p_a by each model.")
        res.tables.append(t)
    if "real_photos" in configs:
        step("bootstrapping the real-photo table")
        photos = read_frame(folder, "real_photos", without=("image", "twin_image"))
        res.tables.append(real_photos_table(photos, n_boot=n_boot, seed=seed))
    if "artworks" in configs:
        step("bootstrapping the artwork table")
        art = recipe.get("artworks") or {}
        res.tables.append(
            artworks_table(
                read_frame(folder, "artworks", without=("image",)),
                art.get("leaderboard"),
                art.get("leaderboard_scorer"),
                n_boot=n_boot,
                seed=seed,
            )
        )
    if "emotion_bias" in configs:
        step("bootstrapping the emotion-bias table")
        faces = read_frame(folder, "emotion_bias")
        present |= models_in_columns(faces.columns) | study_generators(m, "emotion_bias")
        res.tables.append(emotion_bias_table(faces, n_boot=n_boot, seed=seed))

    def write(rel: str, data: bytes | str) -> None:
        write_bytes_atomic(out / rel, data.encode() if isinstance(data, str) else data)
        res.files.append(rel)

    for t in res.tables:  # a row with nothing measured (n = 0) says nothing
        t.rows = [r for r in t.rows if r.get("n", 1) != 0]
    step("writing the tables")
    attach_published(res.tables, m, present)
    for t in res.tables:
        write(f"tables/{t.name}.md", t.to_markdown())
        write(f"tables/{t.name}.csv", t.to_csv())
        write(f"tables/{t.name}.json", t.to_json())
    write("tables/all_long.csv", long_csv(res.tables))
    plots = []
    if "scores" in configs:
        step("drawing the plots")
        aligned = {c["aligned"] for c in recipe.get("comparisons", [])}
        for name, png in _plots(res.tables, df, aligned):
            write(f"plots/{name}.png", png)
            write(f"plots/{name}.svg", png.svg)
            write(f"plots/{name}.pdf", png.pdf)
            plots.append(name)
    head = (
        f"# Report: {m['name']} v{m['version']}\n\nRecipe `{m.get('recipe_hash', '')[:12]}`; ground truth: `{gt}`.\n\n"
    )
    figures = "".join(f"![{p}](plots/{p}.png)\n\n" for p in plots)
    names = display_names()  # the paper's names in the Markdown; csv and json keep the catalog's
    body = "\n".join(t.to_markdown(names=names) for t in res.tables)
    write("report.md", head + body + ("\n## Plots\n\n" + figures if plots else ""))
    if "pairs" in configs:
        step("writing the gallery")
        for name, page in gallery_pages(folder, m, gallery_limit, gt, res.failures):
            write(name, page)
    if "real_photos" in configs:
        write("real_photos.html", real_photos_html(folder, m, limit=gallery_limit, failures=res.failures))
    write("index.html", index_html(m, res.tables, plots, res.files))
    step.done()
    return res


def long_csv(tables: list[Table]) -> str:
    """Every cell of every table, one per line: table, row, metric, scorer, value, lo, hi, n,
    published (the tidy form for pandas / R; `scorer` is the scorer or rater a column is about,
    if any; `published` the paper's value where it applies)."""
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "row", "metric", "scorer", "value", "lo", "hi", "n", "published"])
    for t in tables:
        for r in t.rows:
            row = t.row_label(r)
            for col, v in r.items():
                if not isinstance(v, Cell):
                    continue
                metric, scorer = _metric_and_scorer(col)
                w.writerow(
                    [t.name, row, metric, scorer, v.value, v.lo, v.hi, r.get("n", ""), t.published.get((row, col), "")]
                )
    return buf.getvalue()


def _metric_and_scorer(col: str) -> tuple[str, str]:
    for prefix in ("ΔJ ", "J AA ", "J_s ", "Δ ", "bias ", "Pearson "):
        if col.startswith(prefix):
            return prefix.strip(), col[len(prefix) :]
    for suffix in (" AA", " match"):
        if col.endswith(suffix):
            return suffix.strip(), col[: -len(suffix)]
    return col, ""


def index_html(m: dict, tables: list[Table], plots: list[str], files: list[str]) -> str:
    """One page linking every table (md, csv, json), plot and gallery of the report."""
    esc = html.escape
    items = []
    for t in tables:
        links = " · ".join(f'<a href="tables/{esc(t.name)}.{ext}">{ext}</a>' for ext in ("md", "csv", "json"))
        items.append(f"<li><b>{esc(t.title)}</b> ({len(t.rows)} rows): {links}</li>")
    pages = [f for f in ("gallery.html", "real_photos.html") if f in files]
    figs = "".join(
        f'<figure><img src="plots/{esc(p)}.png" alt="{esc(p)}"><figcaption>{esc(p)}</figcaption></figure>'
        for p in plots
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>report: {esc(m['name'])}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px} img{max-width:100%}"
        "figure{margin:1em 0}</style></head><body>"
        f"<h1>{esc(m['name'])} v{esc(str(m['version']))}</h1>"
        f"<p>Recipe <code>{esc(m.get('recipe_hash', '')[:12])}</code>. "
        '<a href="report.md">report.md</a> · <a href="tables/all_long.csv">every cell, one per line (CSV)</a>'
        + "".join(f' · <a href="{p}">{p}</a>' for p in pages)
        + f"</p><h2>Tables</h2><ul>{''.join(items)}</ul>"
        + (f"<h2>Plots</h2>{figs}" if plots else "")
        + "</body></html>"
    )


# --- plots -------------------------------------------------------------------------------


class _Figure(bytes):
    """A figure's PNG bytes, carrying its SVG and PDF renderings (`.svg`, `.pdf`) for papers."""

    svg: bytes
    pdf: bytes


def _fig_png(fig, title: str | None = None) -> _Figure:
    """Renders and closes `fig`. `title`: a suptitle, the panels laid out tight beneath it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))

    def render(fmt: str, **meta) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight", metadata=meta)
        return buf.getvalue()

    png = _Figure(render("png", Software=None))
    png.svg = render("svg", Date=None)  # no timestamps: a report's files depend only on the data
    png.pdf = render("pdf", CreationDate=None, ModDate=None)
    plt.close(fig)
    return png


# one colour per model, the same in every plot (the order models first appear in the release)
_PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
_COLORS: dict[str, str] = {}


def _color(label: str) -> str:
    return _COLORS.setdefault(label, _PALETTE[len(_COLORS) % len(_PALETTE)])


def _shown(name: str) -> str:
    """A model's or scorer's name as the paper writes it (the catalog's display name)."""
    return display_names().get(name, name)


def _bars(ax, labels, cells: list[Cell], title: str, highlight: set[str] = frozenset(), paper=None, horizontal=None):
    """Bars with 95 % intervals; horizontal when a label is long (no overlapping names); models
    in `highlight` (the aligned side of aligned-vs-base tests) outlined; `paper`: the published
    value per bar (or None), drawn as a black diamond."""
    vals = np.array([c.value for c in cells], dtype=float)
    lo = np.array([c.value - c.lo if c.lo is not None else 0 for c in cells], dtype=float)
    hi = np.array([c.hi - c.value if c.hi is not None else 0 for c in cells], dtype=float)
    err = np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])
    colors = [_color(str(x)) for x in labels]
    edges = ["black" if str(x) in highlight else "none" for x in labels]
    shown = [_shown(str(x)) for x in labels]
    if horizontal is None:  # the figure may decide, so that its panels agree
        horizontal = max((len(x) for x in shown), default=0) > 12
    if horizontal:
        ax.barh(range(len(vals)), vals, xerr=err, capsize=3, color=colors, edgecolor=edges, linewidth=1.2)
        ax.set_yticks(range(len(vals)), shown, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.6)
        marks = [(v, k) for k, v in enumerate(paper or []) if v is not None]
    else:
        ax.bar(range(len(vals)), vals, yerr=err, capsize=3, color=colors, edgecolor=edges, linewidth=1.2)
        ax.set_xticks(range(len(vals)), shown, rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="black", lw=0.6)
        marks = [(k, v) for k, v in enumerate(paper or []) if v is not None]
    if marks:
        ax.plot(*zip(*marks, strict=True), "D", color="black", ms=4, label="paper", zorder=5)
    ax.set_title(display_header(title, display_names()), fontsize=9)
    return horizontal


def _plots(tables: list[Table], df, aligned: set[str] = frozenset()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    by = {t.name: t for t in tables}
    out = []
    gen = by.get("generators")
    if gen and gen.rows:
        deltas = [c for c in gen.columns if c.startswith("Δ")] + (["success"] if "success" in gen.columns else [])
        ncols = min(4, len(deltas))  # a grid, not one long row: panels keep a readable size
        nrows = -(-len(deltas) // ncols)
        height = 0.32 * len(gen.rows) + 1.4
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, height * nrows), squeeze=False)
        for k, ax in enumerate(axes.flat):
            if k >= len(deltas):
                ax.axis("off")
                continue
            col = deltas[k]
            rows = [r for r in gen.rows if isinstance(r.get(col), Cell)]
            paper = [gen.published.get((gen.row_label(r), col)) for r in rows]
            _bars(ax, [r["model"] for r in rows], [r[col] for r in rows], col, aligned, paper)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.tick_params(labelsize=7)
            if k % ncols and len(ax.get_yticklabels()) and any(len(r["model"]) > 12 for r in rows):
                ax.set_yticklabels([])  # the model names once per row of panels
        fig.tight_layout(rect=(0, 0, 1, 0.94))
        note = "; outlined: aligned models of the aligned-vs-base tests" if aligned else ""
        note += "; ◆ published value" if gen.published else ""
        fig.suptitle(f"Per-model shift I_a vs I_o under p_o (95% bootstrap intervals){note}", fontsize=10)
        out.append(("generator_deltas", _fig_png(fig)))
    rm = by.get("reward_models")
    if rm and rm.rows:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), squeeze=False)
        long_names = any(len(_shown(r["model"])) > 12 for r in rm.rows)
        for ax, col in zip(axes[0], ("accuracy", "AUROC"), strict=True):
            rows = [r for r in rm.rows if isinstance(r.get(col), Cell)]
            paper = [rm.published.get((rm.row_label(r), col)) for r in rows]
            horizontal = _bars(
                ax, [r["model"] for r in rows], [r[col] for r in rows], col, paper=paper, horizontal=long_names
            )
            (ax.axvline if horizontal else ax.axhline)(0.5, color="#aa3333", lw=0.6, ls="--")  # chance
        out.append(("reward_models", _fig_png(fig, rm.title)))
    scores = score_names(df)
    if scores:
        fig, axes = plt.subplots(1, len(scores), figsize=(3.2 * len(scores), 3.0), squeeze=False)
        for ax, s in zip(axes[0], scores, strict=True):
            o, d = df[f"{s}.oidp"].to_numpy(float), df[f"{s}.didp"].to_numpy(float)
            o, d = o[~np.isnan(o)], d[~np.isnan(d)]
            if len(o) and len(d):
                bins = np.histogram_bin_edges(np.concatenate([o, d]), bins=20)
                ax.hist(o, bins=bins, alpha=0.6, label="r(I_o, p_a)", color="#4477aa")
                ax.hist(d, bins=bins, alpha=0.6, label="r(I_a, p_a)", color="#cc6644")
            ax.set_title(_shown(s[len("score_") :]), fontsize=9)
            ax.tick_params(labelsize=7)
        axes[0][0].legend(fontsize=7)
        fig.suptitle("Score distributions under the anti-aesthetic prompt", fontsize=10)
        out.append(("score_distributions", _fig_png(fig)))
    if gen and gen.rows and (fig := _delta_distributions(plt, df, [r["model"] for r in gen.rows])) is not None:
        out.append(("delta_distributions", fig))
    if gen and "success" in gen.columns:
        fig = _delta_vs_success(plt, gen)
        if fig is not None:
            out.append(("delta_vs_success", fig))
    for t in [by.get("success_by_dimension")] + [t for t in tables if t.name.startswith("j_by_dimension_")]:
        if t and t.rows:
            out.append((t.name, _heatmap(plt, t, rate=t.name == "success_by_dimension")))
    return out


def _heatmap(plt, t: Table, rate: bool) -> _Figure:
    """Model × dimension: a rate on [0, 1] (viridis), or a signed shift on a diverging scale
    centred on 0."""
    cols = [c for c in t.columns if c not in ("model", "n")]
    grid = np.array(
        [[r[c].value if isinstance(r.get(c), Cell) else np.nan for c in cols] for r in t.rows], dtype=float
    )
    fig, ax = plt.subplots(figsize=(0.55 * len(cols) + 2.5, 0.4 * len(t.rows) + 1.6))
    if rate:
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    else:
        span = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
        im = ax.imshow(grid, vmin=-span, vmax=span, cmap="RdBu_r", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(t.rows)), [_shown(r["model"]) for r in t.rows], fontsize=8)
    for (i, j), v in np.ndenumerate(grid):
        if not np.isnan(v):
            dark = v < 0.6 if rate else abs(v) > 0.6 * span
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if dark else "black")
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title(t.title, fontsize=9)
    return _fig_png(fig)


def _grid(plt, panels: int, height: float, width: float = 3.4, most: int = 4):
    ncols = min(most, panels)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    return fig, list(axes.flat[:panels])


def _delta_distributions(plt, df, models: list[str]) -> _Figure | None:
    """Per scorer (and per rater, ΔJ over all 11 dimensions), one box per model of the per-pair
    shift r(I_a, p_o) − r(I_o, p_o): the spread behind each mean of the generator table."""
    from matplotlib.ticker import MaxNLocator

    from aas_dataset.analysis.metrics.tables import _sum_vectors, rater_names

    shifts = {
        f"Δ {s[len('score_') :]}": lambda f, s=s: f[f"{s}.diop"].to_numpy(float) - f[f"{s}.oiop"].to_numpy(float)
        for s in score_names(df)
    }
    for r in rater_names(df):
        shifts[f"ΔJ {r}"] = lambda f, r=r: _sum_vectors(f[f"rater_{r}.distorted"]) - _sum_vectors(
            f[f"rater_{r}.original"]
        )
    if not shifts:
        return None
    fig, axes = _grid(plt, len(shifts), 0.3 * len(models) + 1.3)
    for k, (ax, (title, shift)) in enumerate(zip(axes, shifts.items(), strict=True)):
        data, labels = [], []
        for model in models:
            d = shift(df[df["model"] == model])
            d = d[np.isfinite(d)]
            if len(d):
                data.append(d)
                labels.append(model)
        if not data:
            ax.axis("off")
            continue
        box = ax.boxplot(data, vert=False, patch_artist=True, widths=0.6, flierprops={"markersize": 2})
        for patch, model in zip(box["boxes"], labels, strict=True):
            patch.set_facecolor(_color(model))
        shown = [_shown(x) for x in labels] if k % 4 == 0 else [""] * len(labels)
        ax.set_yticks(range(1, len(labels) + 1), shown, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.6)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_title(display_header(title, display_names()), fontsize=9)
        ax.tick_params(labelsize=7)
    return _fig_png(fig, "Per-pair shift r(I_a, p_o) − r(I_o, p_o), per model")


def _delta_vs_success(plt, gen: Table) -> _Figure | None:
    """Per Δ column of the generator table: each model's mean shift against its success rate,
    both with 95 % intervals (does obeying the request go with a larger drop in reward?)."""
    cols = [c for c in gen.columns if c.startswith("Δ")]
    rows = [r for r in gen.rows if isinstance(r.get("success"), Cell) and not np.isnan(r["success"].value)]
    if not cols or not rows:
        return None
    from matplotlib.ticker import MaxNLocator

    fig, axes = _grid(plt, len(cols), 3.0, width=3.4)
    for ax, col in zip(axes, cols, strict=True):
        for r in rows:
            x, y = r["success"], r.get(col)
            if not isinstance(y, Cell) or np.isnan(y.value):
                continue
            xerr = [[x.value - x.lo], [x.hi - x.value]] if x.lo is not None else None
            yerr = [[y.value - y.lo], [y.hi - y.value]] if y.lo is not None else None
            ax.errorbar(x.value, y.value, xerr=xerr, yerr=yerr, fmt="o", ms=4, color=_color(r["model"]), lw=0.8)
            ax.annotate(_shown(r["model"]), (x.value, y.value), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("success", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_title(display_header(col, display_names()), fontsize=9)
        ax.tick_params(labelsize=7)
    return _fig_png(fig, "Mean shift under p_o against success, per model (95% intervals)")


# --- gallery -----------------------------------------------------------------------------


_GALLERY_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>gallery</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em;background:#f6f6f4;color:#222}
.card{display:inline-block;vertical-align:top;width:540px;margin:6px;padding:8px;background:#fff;border:1px solid #ddd}
.card img{width:260px;height:auto;margin-right:4px;background:#ccc}
.p{font-size:12px;margin:4px 0}
.b{display:inline-block;font-size:11px;padding:1px 5px;margin:1px;border-radius:3px;background:#eee}
.up{background:#d6ecd2}.down{background:#f3d6d2}.hidden{display:none}
</style></head><body>
"""

_GALLERY_JS = """<script>
function applyFilters(){
  const m=document.getElementById('fm').value, d=document.getElementById('fd').value;
  let shown=0;
  for(const c of document.querySelectorAll('.card')){
    const ok=(!m||c.dataset.model===m)&&(!d||c.dataset.dims.split('|').includes(d));
    c.classList.toggle('hidden',!ok); if(ok) shown++;
  }
  document.getElementById('count').textContent=shown+' pairs shown';
}
window.addEventListener('load',()=>{
  const imgs=[...document.images], ok=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;
  document.title='gallery: '+ok+'/'+imgs.length+' images loaded';
  document.body.dataset.loaded=ok; applyFilters();
});
</script></body></html>"""


def _picked_rows(folder: Path, manifest: dict, config: str, limit: int, keep=lambda r: True) -> tuple[list[dict], int]:
    """Up to `limit` rows of `config` spread evenly over it, streamed one small batch at a time."""
    import pyarrow.parquet as pq

    files = sorted((p, f) for p, f in manifest["files"].items() if f.get("config") == config)
    n = sum(f["rows"] for _, f in files)
    pick = set(np.linspace(0, n - 1, min(n, limit)).round().astype(int).tolist()) if n else set()
    rows, seen = [], 0
    for rel, _ in files:
        for batch in pq.ParquetFile(Path(folder) / rel, pre_buffer=False).iter_batches(batch_size=16):
            wanted = [i for i in range(batch.num_rows) if seen + i in pick]
            if wanted:
                rows += [r for r in batch.take(wanted).to_pylist() if keep(r)]
            seen += batch.num_rows
    return rows, n


def real_photos_html(folder: Path, manifest: dict, limit: int = 200, failures: list[str] | None = None) -> str:
    """Photograph beside its clean twin, with each scorer's bias r(twin, p_a) − r(photo, p_a)."""
    rows, n = _picked_rows(folder, manifest, "real_photos", limit, keep=lambda r: r["status"] == "accepted")
    esc = html.escape
    parts = [
        _GALLERY_HEAD,
        f"<h1>{esc(manifest['name'])}: {len(rows)} accepted photographs (of {n} rows shown in a spread)</h1>",
        "<p class=p>Left: the photograph. Right: its clean twin, rendered from the clean caption. Badges: per "
        "scorer r(twin, p_a) − r(photo, p_a) under the anti-aesthetic caption (red: the scorer prefers the twin "
        "the caption contradicts).</p>",
    ]
    for r in rows:
        imgs = ""
        for col, alt in (("image", "photograph"), ("twin_image", "twin")):
            if not r.get(col):
                imgs += f'<span class="b">{alt}: not stored (metadata-only)</span>'
                continue
            try:
                imgs += f'<img alt="{alt}" src="{thumb_url(r[col]["bytes"], 256)}">'
            except ImageProblem as e:
                imgs += f'<span class="b down">{alt}: {esc(str(e))}</span>'
                if failures is not None:
                    failures.append(f"real_photos {r['file_name']}, {col}: {e}")
        badges = [
            f'<span class="b {"down" if d > 0 else "up"}">{esc(k[6:])} {d:+.3g}</span>'
            for k, v in r.items()
            if k.startswith("score_")
            and isinstance(v, dict)
            and v.get("oidp") is not None
            and v.get("didp") is not None
            for d in (v["oidp"] - v["didp"],)
        ]
        vote = f" · AVA {r['human_score']:.2f}" if r.get("human_score") is not None else ""
        parts.append(
            f'<div class="card">{imgs}<div class="p"><b>{esc(r["file_name"])}</b>{vote} · '
            f"{esc(', '.join(r['elements'] or []))}</div>"
            f'<div class="p">clean: {esc(r["clean_caption"] or "")}</div>'
            f'<div class="p">p_a: {esc(r["anti_aesthetic_caption"] or "")}</div>'
            f"<div>{''.join(badges)}</div></div>"
        )
    return "\n".join(parts)


def results_markdown(folder: Path, n_boot: int = 200, seed: int = 0) -> str:
    """The generator and reward-model tables of a release, for its card."""
    m = read_manifest(Path(folder))
    if not any(f.get("config") == "scores" for f in m["files"].values()):
        return "No paired benchmark in this release.\n"
    df = read_frame(Path(folder), "scores")
    gt = m.get("recipe", {}).get("ground_truth") or next((c[6:] for c in df.columns if c.startswith("label_")), None)
    tables = [generator_table(df, gt, n_boot=n_boot, seed=seed)]
    if gt:
        tables.append(classification_table(df, gt, n_boot=n_boot, seed=seed))
    attach_published(tables, m, set(df["model"]) | models_in_columns(df.columns))
    names = display_names()
    return "\n".join(t.to_markdown(names=names) for t in tables) + f"\n({n_boot} bootstrap resamples per interval.)\n"


@functools.cache
def display_names() -> dict[str, str]:
    """Catalog name -> the paper's display name, for every model and scorer that has one; and a
    shift column's name -> the paper's abbreviated heading (`Δ image_reward` -> `ΔImgRwd`)."""
    from aas_dataset.catalog import ROLES, entries

    every = [(n, e) for r in ROLES for n, e in entries(r).items()]
    names = {n: e.display_name for n, e in every if e.display_name and e.display_name != n}
    return names | {f"Δ {n}": f"Δ{e.paper_column}" for n, e in every if e.paper_column}
