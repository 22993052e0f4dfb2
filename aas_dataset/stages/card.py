"""Stage `card`: the release README.md (YAML header + prose) from the Jinja template in cards/."""

from __future__ import annotations

import json
from pathlib import Path

from ..schema import CONFIGS, SPLIT, Column, hf_features

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
}


def template_path() -> Path:
    """cards/ in a source checkout; aas_dataset/_cards in an installed wheel."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "_cards", here.parent / "cards"):
        if (cand / "dataset_card.md.j2").is_file():
            return cand / "dataset_card.md.j2"
    raise FileNotFoundError("dataset card template cards/dataset_card.md.j2 not found")


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
    for config in CONFIGS:
        mine = [f for f in files if f["config"] == config]
        rows = sum(f["rows"] for f in mine)
        nbytes = sum(f["num_bytes"] for f in mine)
        info = DatasetInfo(
            features=hf_features(columns[config]),
            config_name=config,
            splits=SplitDict({SPLIT: SplitInfo(name=SPLIT, num_bytes=nbytes, num_examples=rows)}),
            download_size=sum(f["bytes"] for f in mine),
            dataset_size=nbytes,
        )
        out.append(info._to_yaml_dict())
    return out


def render_card(
    recipe, columns, files: list[dict], counts: dict, failures: list[dict], root: Path | None = None
) -> str:
    from huggingface_hub import DatasetCard, DatasetCardData

    # bytes on disk are known only after writing; assemble passes the staged files
    for f in files:
        if "bytes" not in f and root is not None:
            f["bytes"] = (root / f["path"]).stat().st_size
    r = recipe.recipe
    data = DatasetCardData(
        license=r.license,
        pretty_name=r.pretty_name,
        language=["en"],
        task_categories=["text-to-image", "image-classification"],
        size_categories=[_size_category(counts["pairs"])],
        tags=["aesthetics", "anti-aesthetics", "reward-models", "benchmark", "synthetic"],
        configs=[
            {
                "config_name": c,
                "data_files": [{"split": SPLIT, "path": f"{c}/{SPLIT}-*.parquet"}],
                **({"default": True} if c == "pairs" else {}),
            }
            for c in CONFIGS
        ],
        dataset_info=dataset_info(columns, files),
    )
    generators = [
        {
            "name": g.name,
            "kind": g.entry.kind,
            "model_id": g.entry.model_id or "random-init",
            "revision": g.entry.revision or "",
            "license": g.entry.license,
            "settings": json.dumps(g.spec["settings"], sort_keys=True),
        }
        for g in recipe.generators
    ]
    card = DatasetCard.from_template(
        data,
        template_path=str(template_path()),
        recipe=r,
        recipe_hash=recipe.hash,
        rewriter=recipe.rewriter,
        generators=generators,
        judges=recipe.judges,
        scorers=recipe.scorers,
        config_notes=CONFIG_NOTES,
        columns=columns,
        counts=counts,
        failures=failures,
        citation=CITATION,
    )
    return str(card)
