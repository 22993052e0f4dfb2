"""`aas import-hf`: the authors' published layouts -> our release layout.

Layouts (docs/paper_fidelity.md, "Published data"):
- `benchmark` (`weathon/aas_benchmark_final`): one row per (model, index) with struct score
  columns, HPSv3 [mu, log sigma] lists, 2x2 BLIP ITM logits under p_a, the 11-vector rater J,
  the pairwise labels of three LLM verifiers and the 0-100 LLM judge.
- `emotion_bias` (`weathon/emotion_bias_dataset`): a happy face and its three edits, with
  per-scorer columns `<emotion>_<scorer>` and `<emotion>_<scorer>_happy_image` (HPSv2.1 and
  ImageReward values are one-element lists, as their packages return them).

Every source column is either mapped, ignored for a stated reason, or an error that names it.
Columns, models and judges get the catalog's names, so a column means one model in every
release, imported or built: the published `hpsv2_reward` (HPSv2.1) becomes `score_hpsv2_1`,
`llm_selected` becomes `label_qwen3_vl_235b_deepinfra`, `stable_diffusion_3.5_medium` becomes
`stable_diffusion_3_5_medium`, and so on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aas_dataset.release.import_references import ImportFormatError
from aas_dataset.release.writer import SCORES_SHARD_ROWS, ConfigPart, claim, folder_lock, write_release
from aas_dataset.spec.images import ImageProblem, check_image
from aas_dataset.spec.official_texts import OfficialTextError
from aas_dataset.spec.schema import (
    COMBOS,
    NEGATIVE_EMOTIONS,
    Column,
    SchemaError,
    check_row,
    config_columns,
    label_column,
    rater_columns,
    validate_table,
)
from aas_dataset.spec.taxonomy import DIMENSION_KEYS
from aas_dataset.util import digest, owned_tmpdir
from aas_dataset.version import __version__

# The paper's aligned-vs-base comparisons, kept when both models are present.
PAPER_COMPARISONS = [
    ("dance_flux", "flux_dev"),
    ("playground", "stable_diffusion_xl"),
    ("sd3_medium_grpo", "stable_diffusion_3_5_medium"),
]
# source column -> the catalog judge that made it (the same model, endpoint and instruction)
JUDGES = {
    "llm_selected": "qwen3_vl_235b_deepinfra",
    "sec_llm_selected": "gpt5_chat_openrouter",
    "third_llm_selected": "glm45v_openrouter",
}
GROUND_TRUTH = "llm_selected"
# source struct -> (catalog scorer, field prefix); hpsv2_reward holds HPSv2.1 (hps_version="v2.1")
SCORE_STRUCTS = {"hpsv2_reward": ("hpsv2_1", "hpsv2"), "image_reward": ("image_reward", "image_reward")}
HPSV3 = "hpsv3"
BLIP = "blip_itm_large"
# The emotion-bias layout's scorer names (<emotion>_<name>) -> catalog scorers; others keep theirs.
EMOTION_SCORERS = {"hpsv2": "hpsv2_1", "img_reward": "image_reward", "blip": BLIP, "hpsv3": HPSV3}
BENCHMARK_REQUIRED = {
    "image_original",
    "image_distorted",
    "index",
    "prompt_original",
    "prompt_distorted",
    "selected_dims",
    "model",
}
BENCHMARK_OPTIONAL = {"llm_judge", "hpsv2_reward", "hpsv3_reward", "image_reward", "rater", "blip_score", *JUDGES}
BENCHMARK_IGNORED = {
    "blip_selected": "derived from blip_score (the rule is inferred); recompute from score_blip",
    "blip_score_original": "meaning undocumented",
    "__index_level_0__": "a pandas index written by accident",
}
PAIR_IMAGES = ("image_original", "image_distorted")
EMOTION_IMAGES = ("happy_image", *(f"{e}_image" for e in NEGATIVE_EMOTIONS))
RATER = "rater_j"
JUDGE100 = "gemini25_flash_openrouter"


# A Hub repo id: ORG/NAME of letters, digits, '-', '_', '.' (no leading '.', '/', '~')
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def _schema_names(f: Path) -> set[str]:
    try:
        return set(pq.read_schema(f).names)
    except (pa.ArrowException, OSError) as e:
        raise ImportFormatError(f"{f}: not a readable Parquet file ({e})") from None


def source_files(source: str, revision: str | None = None) -> tuple[list[Path], str]:
    """Parquet files of a local folder, or of a Hub dataset repo (downloaded to the HF cache)."""
    local = Path(source)
    if local.exists():
        files = sorted(p for p in local.rglob("*.parquet") if ".aas" not in p.parts)
        if not files and (meta := sorted(local.rglob("metadata.jsonl"))):
            files = meta  # an imagefolder: images beside a metadata.jsonl
        where = str(local)
    elif not _REPO_ID.match(source):  # a path that does not exist, not a Hub id to look up
        raise ImportFormatError(f"{source}: no such folder (a Hub dataset id is ORG/NAME)")
    else:
        from huggingface_hub import snapshot_download

        root = snapshot_download(
            source, repo_type="dataset", revision=revision, allow_patterns=["*.parquet", "**/*.parquet"]
        )
        files = sorted(Path(root).rglob("*.parquet"))
        if not files:  # an imagefolder repo: its metadata and images
            root = snapshot_download(source, repo_type="dataset", revision=revision)
            files = sorted(Path(root).rglob("metadata.jsonl"))
        where = f"{source}@{revision or 'main'}"
    if not files:
        raise ImportFormatError(f"{source}: no Parquet files found")
    return files, where


def detect_layout(names: set[str]) -> str:
    from aas_dataset.release.import_references import ART_REQUIRED, REAL_V2

    if {"image_original", "image_distorted"} <= names:
        return "benchmark"
    if "happy_image" in names:
        return "emotion_bias"
    if names >= REAL_V2:
        return "real_images"
    if names >= ART_REQUIRED:
        return "artworks"
    raise ImportFormatError(f"unknown layout: columns {', '.join(sorted(names))}")


def _check_columns(path: Path, names: set[str], required: set[str], known: set[str]) -> None:
    missing = sorted(required - names)
    unknown = sorted(names - known)
    if missing:
        raise ImportFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    if unknown:
        raise ImportFormatError(f"{path}: unknown column(s) {', '.join(unknown)}")


def _image(v, where: str) -> dict:
    """An image cell, checked on entry: it decodes, within the pixel limit, in an RGB-able mode."""
    if not isinstance(v, dict) or not v.get("bytes"):
        raise ImportFormatError(f"{where}: image bytes are missing")
    try:
        check_image(v["bytes"])
    except ImageProblem as e:
        raise ImportFormatError(f"{where}: {e}") from None
    return {"bytes": v["bytes"], "path": None}


def _combos(struct: dict | None, prefix: str, where: str, pick=lambda x: x) -> dict | None:
    if struct is None:
        return None
    try:
        return {c: None if struct[f"{prefix}_{c}"] is None else pick(struct[f"{prefix}_{c}"]) for c in COMBOS}
    except (KeyError, IndexError, TypeError) as e:
        raise ImportFormatError(f"{where}: cannot read {prefix}_* scores ({e})") from None


def _head_output(i: int):
    """HPSv3's published value per image is its head's [mu, log sigma]; take output `i`."""

    def pick(v):
        if not isinstance(v, list | tuple) or len(v) != 2:
            raise TypeError(f"expected [mu, log_sigma], got {v!r:.40}")
        return v[i]

    return pick


def _benchmark_row(r: dict, where: str, model: str, generator_id: str, images: bool = True) -> dict:
    """Our pairs row (`images`) or scores row (no image columns) of a published row."""
    dims = _dims(r["selected_dims"], where)
    row = {
        "model": model,
        "index": r["index"],
        "prompt_original": r["prompt_original"],
        "prompt_distorted": r["prompt_distorted"],
        "selected_dims": dims,
        "seed_original": None,
        "seed_distorted": None,
        "generator_kind": "imported",
        "generator_id": generator_id,
        "generator_revision": "",
        "generator_settings": "{}",
    }
    if images:
        row["image_original"] = _image(r["image_original"], f"{where}, image_original")
        row["image_distorted"] = _image(r["image_distorted"], f"{where}, image_distorted")
    for src, judge in JUDGES.items():
        if src in r:
            row[label_column(judge)] = r[src]
    for src, (name, prefix) in SCORE_STRUCTS.items():
        if src in r:
            row[f"score_{name}"] = _combos(r[src], prefix, where)
    if "hpsv3_reward" in r:
        # the head's raw output per image: [mu, log sigma], as our hpsv3 scorer's two outputs
        row[f"score_{HPSV3}"] = _combos(r["hpsv3_reward"], "hpsv3", where, _head_output(0))
        row[f"score_{HPSV3}_log_sigma"] = _combos(r["hpsv3_reward"], "hpsv3", where, _head_output(1))
    if "blip_score" in r:
        b = r["blip_score"]
        if b is not None and (len(b) != 2 or any(len(x) != 2 for x in b)):
            raise ImportFormatError(f"{where}: blip_score must be 2x2 [[neg, pos] of I_o, [neg, pos] of I_a]")
        match = None if b is None else {"oiop": None, "oidp": b[0][1], "diop": None, "didp": b[1][1]}
        row[f"score_{BLIP}"] = match
        row[f"score_{BLIP}_neg"] = None if b is None else {"oiop": None, "oidp": b[0][0], "diop": None, "didp": b[1][0]}
    if "rater" in r:
        rt = r["rater"]
        if rt is not None:
            for side in ("original", "distorted"):
                for k in ("preds", "scores"):
                    if len(rt[side][k]) != len(DIMENSION_KEYS):
                        raise ImportFormatError(f"{where}: rater.{side}.{k} has {len(rt[side][k])} values, expected 11")
        row[f"rater_{RATER}"] = None if rt is None else {s: rt[s]["scores"] for s in ("original", "distorted")}
        row[f"rater_{RATER}_pred"] = None if rt is None else {s: rt[s]["preds"] for s in ("original", "distorted")}
    if "llm_judge" in r:
        j = r["llm_judge"]
        row[f"judge100_{JUDGE100}"] = (
            None
            if j is None
            else {
                f"{v}_{k}": j[f"llm_{v}_{k}"]
                for v in ("original", "distorted")
                for k in ("main_concepts", "special_effects", "reasoning")
            }
        )
    return row


def _benchmark_columns(names: set[str]) -> tuple[list[str], list[str], list[Column]]:
    judges = [JUDGES[c] for c in JUDGES if c in names]
    scores = [f"score_{SCORE_STRUCTS[c][0]}" for c in SCORE_STRUCTS if c in names]
    if "hpsv3_reward" in names:
        scores += [f"score_{HPSV3}", f"score_{HPSV3}_log_sigma"]
    if "blip_score" in names:
        scores += [f"score_{BLIP}", f"score_{BLIP}_neg"]
    extra: list[Column] = list(rater_columns(RATER)) if "rater" in names else []
    if "llm_judge" in names:
        extra.append(Column(f"judge100_{JUDGE100}", "judge100", "the paper's 0-100 judge of both images"))
    return judges, scores, extra


def _iter_rows(files: list[Path], skip_images: bool = False) -> Iterator[tuple[Path, int, dict]]:
    """Rows of the source files, a few at a time: no pre-buffering of a whole row group (the
    published files' row groups hold 100 image pairs), and freed memory handed back."""
    for f in files:
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)
        cols = [c for c in pf.schema_arrow.names if not (skip_images and c in PAIR_IMAGES)]
        n = 0
        for batch in _batches(f, pf, 16 if not skip_images else 1024, cols):
            for r in batch.to_pylist():
                yield f, n, r
                n += 1
            del batch
            pa.default_memory_pool().release_unused()


def _batches(f: Path, pf, size: int, columns: list[str]) -> Iterator:
    """Record batches of a source file; a corrupt one is a one-line error naming it."""
    it = pf.iter_batches(batch_size=size, columns=columns)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise ImportFormatError(f"{f}: corrupt Parquet data ({e})") from None
        yield batch


def import_hf(
    source: str, out: Path, revision: str | None = None, official_dir: str | None = None, overwrite: bool = False
) -> dict:
    """`official_dir`: a copy of the authors' repository, for the effect texts their rewriter
    was given (the `effects` column); without it they are fetched once at the pinned commit."""
    files, where = source_files(source, revision)
    if files[0].name == "metadata.jsonl":
        out = Path(out)
        claim(out, "real_images_import", overwrite)
        with folder_lock(out, f"an import of {source}"):
            return _import_references("real_images_folder", files, set(), where, out, out / ".aas" / "store")
    names = _schema_names(files[0])
    for f in files[1:]:
        if _schema_names(f) != names:
            raise ImportFormatError(f"{f}: columns differ from {files[0].name}")
    layout = detect_layout(names)
    out = Path(out)
    claim(out, IMPORT_NAMES[layout], overwrite)
    store = out / ".aas" / "store"  # the same place a build keeps its cache and temp folders
    with folder_lock(out, f"an import of {source}"):
        if layout == "benchmark":
            return _import_benchmark(files, names, where, out, store, official_dir)
        if layout in ("real_images", "artworks"):
            return _import_references(layout, files, names, where, out, store)
        return _import_emotion(files, names, where, out, store)


IMPORT_NAMES = {
    "benchmark": "aas_benchmark_import",
    "emotion_bias": "emotion_bias_import",
    "real_images": "real_images_import",
    "real_images_folder": "real_images_import",
    "artworks": "artworks_import",
}


def _import_references(layout: str, files: list[Path], names: set[str], where: str, out: Path, store: Path) -> dict:
    """The real-image and artwork layouts (release/import_references.py)."""
    from aas_dataset.release import import_references as ir

    fails = ir._Failures(layout)
    name = IMPORT_NAMES[layout]
    if layout == "artworks":
        config, cols = "artworks", ir.artworks_columns(names)
        rows = ir.artworks_rows(_iter_rows(files), names, fails)
        note = "Captions and scores as published (scorer names: the catalog's); no shuffled-caption scores."
    else:
        config, cols = "real_photos", config_columns("real_photos")
        if layout == "real_images":
            if unknown := sorted(names - ir.REAL_V2):
                raise ImportFormatError(f"{files[0]}: unknown column(s) {', '.join(unknown)}")
            rows = ir.real_images_rows(_iter_rows(files), fails)
        else:
            rows = ir.real_images_folder_rows(files[0].parent, fails)
        note = "Photographs with their retrieval queries and commits; no captions, twins or scores were published."

    def checked() -> Iterator[dict]:
        for row in rows:
            _check(cols, row, f"{where}: row {row['index']}")
            yield row

    counts: dict = {config: 0}
    meta = _release_meta(name, where, layout, {}, counts, [f for f in files])
    card = _card(name, where, layout, counts, [], [], [], None, note)
    # the counts and failures are known once the rows have streamed through the writer
    parts = [ConfigPart(config, cols, _counting(checked(), counts, config), SCORES_SHARD_ROWS)]
    meta["failures"] = card["failures"] = fails.items
    return write_release(out, owned_tmpdir(store / "tmp", "import"), parts, 100, card, meta)


def _counting(rows: Iterator[dict], counts: dict, key: str) -> Iterator[dict]:
    for row in rows:
        counts[key] += 1
        yield row


def _release_meta(name: str, where: str, layout: str, recipe: dict, counts: dict, files: list[Path]) -> dict:
    recipe = {
        "import": {"source": where, "layout": layout, "files": [f.name for f in files], "importer": __version__},
        **recipe,
    }
    h = digest(recipe)
    return {
        "name": name,
        "version": "imported",
        "build_key": h,
        "recipe": recipe,
        "recipe_hash": h,
        "counts": counts,
        "failures": [],
    }


def _card(name: str, where: str, layout: str, counts: dict, judges, scorers, generators, gt, notes: str) -> dict:
    return {
        "name": name,
        "version": "imported",
        "pretty_name": "AAS anti-aesthetic benchmark (imported)",
        "description": "",
        "license": "other",
        "recipe_hash": "",
        "seed": None,
        "dimensions": None,
        "rewriter": None,
        "generators": generators,
        "judges": judges,
        "scorers": scorers,
        "ground_truth": gt,
        "source": where,
        "layout": layout,
        "import_notes": notes,
        "counts": counts,
        "failures": [],
    }


def paper_generators() -> dict[str, tuple[str, str]]:
    """The published data's model key -> (catalog name, model id): the key is the entry's
    `paper_key` where it has one (it wins over a same-named entry), else its name."""
    from aas_dataset.catalog import entries

    gens = entries("generator")
    out = {name: (name, e.model_id or "") for name, e in gens.items() if not e.paper_key}
    out.update({e.paper_key: (name, e.model_id or "") for name, e in gens.items() if e.paper_key})
    return out


def _paper_effects(official_dir: str | None, store: Path) -> dict[str, str]:
    from aas_dataset.spec.instructions import effects

    try:
        return effects("official", official_dir, store / "cache")
    except OfficialTextError as e:
        raise ImportFormatError(f"the authors' effect texts fill the prompts config's `effects`: {e}") from None


def _import_benchmark(files, names, where, out, store, official_dir) -> dict:
    _check_columns(
        files[0], names, BENCHMARK_REQUIRED, BENCHMARK_REQUIRED | BENCHMARK_OPTIONAL | set(BENCHMARK_IGNORED)
    )
    judges, scores, extra = _benchmark_columns(names)
    cols_pairs = config_columns("pairs", scores, judges, extra)
    cols_scores = config_columns("scores", scores, judges, extra)

    effect_texts = _paper_effects(official_dir, store)
    known = paper_generators()
    # First pass: model names (catalog names; a repeated (model, index) block becomes
    # <model>_2), their weights, and the prompts.
    light_cols = [c for c in cols_scores if c.name in ("model", "index", "prompt_original", "prompt_distorted")]
    seen: dict[tuple[str, int], int] = {}
    models: list[str] = []
    model_ids: dict[str, str] = {}
    prompts: dict[int, dict] = {}
    for f, n, r in _iter_rows_light(files):
        _check(
            light_cols,
            {c: r.get(c) for c in ("model", "index", "prompt_original", "prompt_distorted")},
            f"{f}: row {n}",
        )
        name, model_id = known.get(r["model"], (r["model"], ""))
        key = (name, r["index"])
        seen[key] = seen.get(key, 0) + 1
        models.append(name if seen[key] == 1 else f"{name}_{seen[key]}")
        model_ids[models[-1]] = model_id
        if r["index"] not in prompts:
            dims = _dims(r["selected_dims"], f"{f}: row {n}")
            prompts[r["index"]] = {
                "index": r["index"],
                "prompt_original": r["prompt_original"],
                "prompt_distorted": r["prompt_distorted"],
                "selected_dims": dims,
                "effects": "\n".join(effect_texts[d] for d in dims),
                "rewriter": "imported",
            }
    renamed = sorted({m for m in models if m not in {k[0] for k in seen}})

    def pair_rows(with_images: bool) -> Iterator[dict]:
        for i, (f, n, r) in enumerate(_iter_rows(files, skip_images=not with_images)):
            # the scores pass never reads the image columns
            row = _benchmark_row(r, f"{f}: row {n}", models[i], model_ids[models[i]], images=with_images)
            _check(cols_pairs if with_images else cols_scores, row, f"{f}: row {n}", _SOURCE_COLUMNS)
            yield row

    prompt_rows = [prompts[i] for i in sorted(prompts)]
    _validate_sample(prompt_rows, "prompts", where)
    counts = {
        "prompts": len(prompt_rows),
        "pairs": len(models),
        "models": dict(sorted({m: models.count(m) for m in set(models)}.items())),
    }
    gt = JUDGES[GROUND_TRUTH] if GROUND_TRUTH in names else (judges[0] if judges else None)
    present = set(models)
    comparisons = [{"aligned": a, "base": b} for a, b in PAPER_COMPARISONS if a in present and b in present]
    notes = "Ignored columns: " + "; ".join(f"`{k}` ({v})" for k, v in BENCHMARK_IGNORED.items() if k in names) + "."
    if renamed:
        notes += f" Repeated (model, index) blocks were renamed: {', '.join(renamed)}."
    from aas_dataset.catalog import entries

    judge_info = [
        {"name": j, "kind": "llm pairwise", "model_id": entries("judge")[j].model_id, "description": f"`{c}`"}
        for c, j in JUDGES.items()
        if c in names
    ]
    scorer_info = [{"name": s[len("score_") :], "kind": "imported", "model_id": "—", "description": ""} for s in scores]
    gen_info = [
        {
            "name": m,
            "kind": "imported",
            "model_id": model_ids[m],
            "revision": "",
            "license": "see the model's card",
            "settings": "{}",
        }
        for m in dict.fromkeys(models)
    ]
    parts = [
        ConfigPart("prompts", config_columns("prompts"), iter(prompt_rows), SCORES_SHARD_ROWS),
        ConfigPart("pairs", cols_pairs, pair_rows(True), 100),
        ConfigPart("scores", cols_scores, pair_rows(False), SCORES_SHARD_ROWS),
    ]
    recipe = {"ground_truth": gt, "comparisons": comparisons}
    meta = _release_meta("aas_benchmark_import", where, "benchmark", recipe, counts, files)
    card = _card("aas_benchmark_import", where, "benchmark", counts, judge_info, scorer_info, gen_info, gt, notes)
    return write_release(out, owned_tmpdir(store / "tmp", "import"), parts, 100, card, meta)


def _iter_rows_light(files):
    """Rows without image bytes (first pass)."""
    for f in files:
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=1 << 20)
        light = [c for c in pf.schema_arrow.names if c not in PAIR_IMAGES]
        n = 0
        for batch in _batches(f, pf, 1024, light):
            for r in batch.to_pylist():
                yield f, n, r
                n += 1


def _validate_sample(rows: list[dict], config: str, where: str) -> None:
    from aas_dataset.spec.schema import arrow_schema

    try:
        validate_table(pa.Table.from_pylist(rows, schema=arrow_schema(config_columns(config))), config, where)
    except SchemaError as e:
        raise ImportFormatError(str(e)) from None


def _scalar(v, where: str):
    """A score as published: a number, or a one-element list (hpsv2.score and ImageReward's
    score of an image list return lists). The number itself is checked with the row."""
    if isinstance(v, list | tuple):
        if len(v) != 1:
            raise ImportFormatError(f"{where}: a list score must hold one value, got {len(v)}")
        v = v[0]
    return v


def _check(columns, row: dict, where: str, sources: dict[str, str] | None = None) -> None:
    """The row's values, exactly as the source holds them, against our columns (no coercion);
    `sources` names the file's column each of ours came from."""
    try:
        check_row(columns, row, where, sources)
    except SchemaError as e:
        raise ImportFormatError(str(e)) from None


# our column -> the published benchmark column it is read from (errors name the user's column)
_SOURCE_COLUMNS = {
    **{label_column(judge): src for src, judge in JUDGES.items()},
    **{f"score_{name}": src for src, (name, _) in SCORE_STRUCTS.items()},
    **{f"score_{HPSV3}{s}": "hpsv3_reward" for s in ("", "_log_sigma")},
    **{f"score_{BLIP}{s}": "blip_score" for s in ("", "_neg")},
    **{f"rater_{RATER}{s}": "rater" for s in ("", "_pred")},
    f"judge100_{JUDGE100}": "llm_judge",
}


def _dims(v, where: str) -> list:
    """selected_dims as published: a JSON list in a string (or a list), of known keys."""
    try:
        dims = json.loads(v) if isinstance(v, str) else v
    except json.JSONDecodeError:
        dims = None
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        raise ImportFormatError(
            f"{where}, column 'selected_dims': expected a JSON list of dimension keys, got {v!r:.60}"
        )
    for d in dims:
        if d not in DIMENSION_KEYS:
            raise ImportFormatError(f"{where}, column 'selected_dims': unknown dimension {d!r}")
    return dims


_EMO_SCORE = re.compile(rf"^({'|'.join(NEGATIVE_EMOTIONS)})_(.+?)(_happy_image)?$")


def _import_emotion(files, names, where, out, store) -> dict:
    missing = sorted({"prompt", *EMOTION_IMAGES} - names)
    if missing:
        raise ImportFormatError(f"{files[0]}: missing column(s) {', '.join(missing)}")
    scorers: dict[str, set[str]] = {}
    unknown = []
    for c in sorted(names - {"prompt", *EMOTION_IMAGES}):
        m = _EMO_SCORE.match(c)
        if not m:
            unknown.append(c)
            continue
        scorers.setdefault(m.group(2), set()).add(m.group(1) + ("_happy" if m.group(3) else ""))
    if unknown:
        raise ImportFormatError(f"{files[0]}: unknown column(s) {', '.join(unknown)}")
    for s, fields in scorers.items():
        lacking = sorted({f for e in NEGATIVE_EMOTIONS for f in (e, f"{e}_happy")} - fields)
        if lacking:
            raise ImportFormatError(
                f"{files[0]}: scorer {s!r} lacks {', '.join(lacking)} (columns <emotion>_{s}[_happy_image])"
            )
    ours = {s: EMOTION_SCORERS.get(s, s) for s in scorers}
    score_cols = [f"score_{ours[s]}" for s in scorers]
    cols = config_columns("emotion_bias", score_cols)

    def rows() -> Iterator[dict]:
        for i, (f, n, r) in enumerate(_iter_rows(files)):
            if "[emotion]" not in (r["prompt"] or ""):
                raise ImportFormatError(f"{f}: row {n}, column 'prompt': no [emotion] placeholder")
            row = {"index": i, "prompt": r["prompt"]}
            for col in EMOTION_IMAGES:
                row[f"image_{col[: -len('_image')]}"] = _image(r[col], f"{f}: row {n}, {col}")
            for s in scorers:
                fields = {e: f"{e}_{s}" for e in NEGATIVE_EMOTIONS}
                fields.update({f"{e}_happy": f"{e}_{s}_happy_image" for e in NEGATIVE_EMOTIONS})
                row[f"score_{ours[s]}"] = {k: _scalar(r[c], f"{f}: row {n}, column {c!r}") for k, c in fields.items()}
            _check(cols, row, f"{f}: row {n}")
            yield row

    n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    counts = {"rows": n, "scorers": len(scorers)}
    meta = _release_meta("emotion_bias_import", where, "emotion_bias", {}, counts, files)
    scorer_info = [
        {"name": ours[s], "kind": "imported", "model_id": "—", "description": f"`<emotion>_{s}`"} for s in scorers
    ]
    card = _card("emotion_bias_import", where, "emotion_bias", counts, [], scorer_info, [], None, "")
    parts = [ConfigPart("emotion_bias", cols, rows(), 100)]
    return write_release(out, owned_tmpdir(store / "tmp", "import"), parts, 100, card, meta)
