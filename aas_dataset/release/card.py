"""The release README.md (YAML header + prose) from the Jinja template in templates/."""

from __future__ import annotations

import json
from pathlib import Path

from aas_dataset.spec.schema import SPLIT, Column, hf_features
from aas_dataset.util import digest, sha256_file

CITATION = """@inproceedings{guo2026universal,
  title     = {Position: Universal Aesthetic Alignment Narrows Artistic Expression},
  author    = {Guo, Wenqi Marshall and Qian, Qingyun and Hasan, Khalad and Du, Shan},
  booktitle = {Proceedings of the 43rd International Conference on Machine Learning (ICML)},
  year      = {2026},
  note      = {arXiv:2512.11883}
}"""

CONFIG_NOTES = {
    "prompts": "one row per prompt pair (p_o, p_a) with the dimensions p_a was asked to carry",
    "pairs": "one row per (model, index): both images (lossless PNG), prompts, seeds, settings, labels, scores",
    "scores": "the rows of `pairs` without images, for fast analysis",
    "emotion_bias": "one happy face and its sad, angry and fearful edits, with each scorer's scores",
    "emotion_generation": "one row per (generator, template, emotion): the image, the face crop, its scores",
    "img2img": "one row per (image-to-image model, chosen source I_a): the input, the edit from p_a, scores",
    "real_photos": "one row per retrieved real photograph: the curator's verdict and captions, its clean twin, scores",
    "artworks": "one row per artwork: its caption and each scorer's score under it and under a shuffled caption",
}


def template_path() -> Path:
    """The card template, shipped inside the package (templates/dataset_card.md.j2)."""
    from importlib.resources import files

    return Path(str(files("aas_dataset.release") / "templates" / "dataset_card.md.j2"))


def _size_category(n: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return label
    return "n>1M"


def dataset_info(columns: dict[str, tuple[Column, ...]], files: list[dict]) -> list[dict]:
    from datasets import DatasetInfo, SplitDict, SplitInfo

    out = []
    for config, cols in columns.items():
        mine = [f for f in files if f["config"] == config]
        rows = sum(f["rows"] for f in mine)
        nbytes = sum(f["num_bytes"] for f in mine)
        info = DatasetInfo(
            features=hf_features(cols),
            config_name=config,
            splits=SplitDict({SPLIT: SplitInfo(name=SPLIT, num_bytes=nbytes, num_examples=rows)}),
            download_size=sum(f["bytes"] for f in mine),
            dataset_size=nbytes,
        )
        out.append(info._to_yaml_dict())
    return out


def _model(m) -> dict:
    return {
        "name": m.name,
        "kind": m.entry.kind,
        "model_id": m.entry.model_id or ("random-init" if m.role == "generator" else "—"),
        "revision": m.entry.revision or "",
        "license": m.entry.license,
        "description": m.entry.description,
        "settings": json.dumps(m.spec["settings"], sort_keys=True),
    }


def _fidelity(m) -> dict:
    from aas_dataset.catalog import differences

    texts = [f"{t['text']}: {t['source']} ({t.get('sha256', '-')})" for t in m.spec.get("texts", [])]
    return {
        "name": m.name,
        "role": m.role.replace("_", " "),
        "run": m.entry.paper_run,
        "texts": "; ".join(texts) or "—",
        "differences": "; ".join(differences(m)) or "none recorded",
    }


_NO_LINK = ("provider terms", "depends on the served model")


def _license_link(model: dict) -> str:
    """The model's page on the Hub, where its license is, for weights that live there."""
    mid = model.get("model_id") or ""
    if mid.count("/") == 1 and not any(model.get("license", "").startswith(x) for x in _NO_LINK):
        return f"https://huggingface.co/{mid}"
    return ""


def _config_models(recipe) -> dict[str, list[dict]]:
    """The models whose outputs (images) each side config holds."""
    out: dict[str, list[dict]] = {}
    if recipe.study_models:
        out["emotion_bias"] = [_model(recipe.study_models["emotion_generator"])]
    if recipe.emotion_generators:
        out["emotion_generation"] = [_model(m) for m in recipe.emotion_generators]
    if recipe.editors:
        out["img2img"] = [_model(m) for m in recipe.editors]
    if recipe.real_photos_models:
        out["real_photos"] = [_model(recipe.real_photos_models["twin_generator"])]
    return out


def license_rows(info: dict, configs: list[str]) -> list[dict]:
    """Per config, what in it carries which license (and where that license is): the card's
    license table."""
    rows = []
    for c in configs:
        if c == "prompts":
            rows.append({"config": c, "covers": "captions and their rewrites", "license": info["license"], "link": ""})
            if info.get("rewriter"):
                r = info["rewriter"]
                rows.append({"config": c, "covers": f"rewrites by `{r['name']}`", "license": r["license"],
                             "link": _license_link(r)})  # fmt: skip
        elif c in ("pairs", "scores"):
            if c == "scores":
                rows.append({"config": c, "covers": "labels and scores (no images)", "license": info["license"],
                             "link": ""})  # fmt: skip
                continue
            for g in info.get("generators") or []:
                rows.append({"config": c, "covers": f"images of `{g['name']}`", "license": g.get("license", ""),
                             "link": _license_link(g)})  # fmt: skip
        else:
            if ref := (info.get("references") or {}).get(c):
                rows.append({"config": c, "covers": "the source images", "license": ref["license"], "link": ""})
            for g in (info.get("config_models") or {}).get(c, []):
                rows.append({"config": c, "covers": f"images made by `{g['name']}`", "license": g.get("license", ""),
                             "link": _license_link(g)})  # fmt: skip
            if not ref and not (info.get("config_models") or {}).get(c):
                rows.append({"config": c, "covers": "everything", "license": info["license"], "link": ""})
    return rows


def card_info(recipe, counts: dict, failures: list[dict]) -> dict:
    """What the card says about a build, from its resolved recipe."""
    r = recipe.recipe
    return {
        "name": r.name,
        "version": r.version,
        "pretty_name": r.pretty_name,
        "description": r.description,
        "license": r.license,
        "recipe_hash": recipe.hash,
        "seed": r.seed,
        "dimensions": r.dimensions.model_dump(),
        "rewriter": _model(recipe.rewriter) if recipe.rewriter else None,
        "generators": [_model(g) for g in recipe.generators],
        "judges": [_model(j) for j in recipe.judges],
        "scorers": [_model(s) for s in recipe.scorers],
        "ground_truth": recipe.ground_truth,
        "paper_differences": list(r.paper_differences),
        "fidelity": [
            _fidelity(m)
            for m in (
                recipe.rewriter,
                recipe.negative_writer,
                *recipe.generators,
                *recipe.judges,
                *recipe.scorers,
                *recipe.reference_models,
            )
            if m is not None
        ],
        "references": {
            name: section.model_dump(include={"license", "redistribute", "metadata_only"})
            for name, section in (("real_photos", r.real_photos), ("artworks", r.artworks))
            if section is not None
        },
        "config_models": _config_models(recipe),
        "source": None,
        "counts": counts,
        "failures": failures,
    }


def render_card(info: dict, columns: dict[str, tuple[Column, ...]], files: list[dict], root: Path) -> str:
    from huggingface_hub import DatasetCard, DatasetCardData

    for f in files:  # bytes on disk are known once the staged files exist
        f.setdefault("bytes", (root / f["path"]).stat().st_size)
    # `datasets` keys its local cache on the card's configs and dataset_info only; naming the
    # content here means a rebuilt folder whose files changed but kept their sizes is never
    # served from a stale cache.
    content = {c: digest(sorted(sha256_file(root / f["path"]) for f in files if f["config"] == c)) for c in columns}
    configs = list(columns)
    default = "pairs" if "pairs" in configs else configs[0]
    n_rows = max((f["rows"] or 0 for f in files), default=0)
    licenses = {"license": info["license"]}
    if info["license"] == "other":  # the Hub asks a name and a link for "other": the card's own table
        licenses |= {"license_name": f"{info['name'].replace('_', '-').lower()}-per-config",
                     "license_link": "README.md#licenses"}  # fmt: skip
    data = DatasetCardData(
        **licenses,
        pretty_name=info["pretty_name"],
        language=["en"],
        task_categories=["text-to-image", "image-classification"],
        size_categories=[_size_category(sum(f["rows"] for f in files if f["config"] == default) or n_rows)],
        tags=["aesthetics", "anti-aesthetics", "reward-models", "benchmark", "synthetic"],
        configs=[
            {
                "config_name": c,
                "data_files": [{"split": SPLIT, "path": f"{c}/{SPLIT}-*.parquet"}],
                "description": f"{c} of {info['name']} v{info['version']} (content {content[c][:16]})",
                **({"default": True} if c == default else {}),
            }
            for c in configs
        ],
        dataset_info=dataset_info(columns, files),
    )
    rows = {c: sum(f["rows"] for f in files if f["config"] == c) for c in configs}
    card = DatasetCard.from_template(
        data,
        template_path=str(template_path()),
        info=info,
        configs=configs,
        rows=rows,
        config_notes=CONFIG_NOTES,
        columns=columns,
        citation=CITATION,
        licenses=license_rows(info, configs),
        examples=info.get("examples") or [],
    )
    return str(card)
