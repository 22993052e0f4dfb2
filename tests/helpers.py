"""Helpers the tests share (recipes, paths, stand-ins for the authors' files, the registry
policy) and the small backends tests build with; fixtures live in conftest.py."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from aas_dataset.backends.base import Detector, Generator, Scorer
from aas_dataset.util import Strict

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "builders" / "smoke.yaml"


# Tests that need a package registry (the official reward-model packages, built into isolated
# environments) fail when it cannot be reached, as CI must; AAS_TESTS_OFFLINE=1 skips them
# instead, with the reason named, on a machine known to be offline.
OFFLINE = os.environ.get("AAS_TESTS_OFFLINE") == "1"


def needs_registry(what: str) -> None:
    if OFFLINE:
        pytest.skip(f"AAS_TESTS_OFFLINE=1: {what} needs a package registry")


def registry_unreachable(what: str, error: Exception) -> None:
    """The one policy for an unreachable registry: a named skip offline, a failure otherwise."""
    if OFFLINE:
        pytest.skip(f"AAS_TESTS_OFFLINE=1: {what}: {error}")
    pytest.fail(f"{what}: {error} (set AAS_TESTS_OFFLINE=1 on a machine without a package registry)")


def write_recipe(path: Path, **changes) -> Path:
    """The smoke recipe with `changes` applied, captions made inline (path-independent)."""
    data = yaml.safe_load(SMOKE.read_text())
    captions = (SMOKE.parent / data["captions"]["file"]).read_text().splitlines()
    data["captions"] = {"inline": [c for c in captions if c.strip()]}
    # settings that name generators or judges follow them when a test replaces those lists
    if "generators" in changes and "comparisons" not in changes:
        data.pop("comparisons", None)
    if "judges" in changes and "ground_truth" not in changes:
        data.pop("ground_truth", None)
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def mini_recipe(path: Path, n: int = 4, **changes) -> Path:
    data = yaml.safe_load(SMOKE.read_text())
    captions = (SMOKE.parent / data["captions"]["file"]).read_text().splitlines()[:n]
    changes.setdefault("captions", {"inline": captions})
    return write_recipe(path, **changes)


# --- a stand-in for the authors' repository ------------------------------------------------
# Files shaped like the authors' (the same functions, message structure and field names), in
# our own words: the real texts are read at run time and never copied here. The fixture
# records these texts' lengths and hashes in place of the real ones, so the same hash gate runs.
AUTHORS_JUDGE = """
import secrets

def llm_select_preference(sample, i):
    candidates = [("image_original", sample["image_original"]), ("image_distorted", sample["image_distorted"])]
    messages = [
        {"role": "system", "content": "Stand-in system line for the pairwise judge."},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": (
                        "Stand-in judge text with a literal {\\"selection\\": <int>} example. "
                        f"Prompt:\\n{sample['prompt_distorted']}"
                    ),
                },
                {"type": "image_url", "image_url": {"url": "first"}},
                {"type": "image_url", "image_url": {"url": "second"}},
            ],
        },
    ]
    return messages
"""


AUTHORS_REWRITER = """
# def get_prompt(original_prompt, artifacts):
#     messages = [{"role": "system", "content": "an older, commented-out variant"}]

def get_prompt(original_prompt, artifacts):
    messages = [
        {"role": "system", "content": "Stand-in rewriter system line."},
        {"role": "user", "content": f'Rewrite {original_prompt} so that it shows {artifacts}. Stand-in.'},
    ]
    return messages
"""


AUTHORS_API = """
def nano_banana_generate(prompt: str):
    messages = [{"role": "user", "content": [{"type": "text", "text": f"Stand-in request for: {prompt}"}]}]
    return messages
"""


AUTHORS_GRADER_CELL = """
def judge(image, original_prompt, distorted_prompt):
    messages = [
        {"role": "system", "content": "Stand-in grader system line."},
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": (f"Original:\\n{original_prompt}\\n\\n" f"Distorted:\\n{distorted_prompt}\\n\\nGrade it."),
                },
                {"type": "image_url", "image_url": {"url": "img"}},
            ],
        },
    ]
    return messages
"""


# what each text is, with its replacement fields as the recorded text writes them
AUTHORS_TEXTS = {
    ("pairwise_judge", "system"): "Stand-in system line for the pairwise judge.",
    ("pairwise_judge", "user"): (
        "Stand-in judge text with a literal {\"selection\": <int>} example. Prompt:\n{sample['prompt_distorted']}"
    ),
    ("absolute_judge", "system"): "Stand-in grader system line.",
    ("absolute_judge", "user"): "Original:\n{original_prompt}\n\nDistorted:\n{distorted_prompt}\n\nGrade it.",
    ("rewriter", "system"): "Stand-in rewriter system line.",
    ("rewriter", "user"): "Rewrite {original_prompt} so that it shows {artifacts}. Stand-in.",
    ("image_api", "user"): "Stand-in request for: {prompt}",
}


def authors_effects() -> dict[str, str]:
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    return {k: f"stand-in effect of {k}" for k in DIMENSION_KEYS}


def write_authors_repo(root: Path) -> Path:
    import json

    (root / "rater_training").mkdir(parents=True, exist_ok=True)
    (root / "rater_training" / "llm_select.py").write_text(AUTHORS_JUDGE)
    (root / "ds.py").write_text(AUTHORS_REWRITER)
    (root / "benchmark.py").write_text(AUTHORS_API)
    cells = [
        {"cell_type": "code", "source": ["!pip install something\n"]},
        {"cell_type": "markdown", "source": ["notes"]},
        {"cell_type": "code", "source": AUTHORS_GRADER_CELL.splitlines(keepends=True)},
    ]
    (root / "eval_later.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4}))
    (root / "prompts.json").write_text(json.dumps(authors_effects(), indent=4))
    return root


CALLS = {"generate": 0, "score": 0}


class FlakySettings(Strict):
    fail_word: str = "FAIL"


class FlakyGenerator(Generator):
    """Solid-colour images; raises for any prompt that contains `fail_word` (default FAIL)."""

    Settings = FlakySettings
    exact_batches = False  # each image alone: a rerun needs only the missing ones

    def generate(self, prompts, seeds):
        CALLS["generate"] += 1
        if any(self.settings.fail_word in p for p in prompts):
            raise RuntimeError(f"refused: prompt contains {self.settings.fail_word}")
        return [Image.new("RGB", (16, 16), (int(s) % 256, 0, 0)) for s in seeds]


class PromptLengthScorer(Scorer):
    """A scorer whose value is known: prompt length + mean red channel."""

    def score(self, images, prompts):
        CALLS["score"] += 1
        return np.array([len(p) + np.asarray(im)[..., 0].mean() for im, p in zip(images, prompts, strict=False)])


class NaNScorer(Scorer):
    """Returns NaN for every prompt that contains "NAN" (a scorer that breaks on some inputs)."""

    def score(self, images, prompts):
        return np.array([float("nan") if "NAN" in p else 1.0 for p in prompts])


class NotABackend:
    """A class of the right shape that does not declare its role."""

    def generate(self, prompts, seeds):
        return []


class IncompleteGenerator(Generator):
    """A generator that implements neither generate nor generate_pairs."""


# --- the published benchmark layout (weathon/aas_benchmark_final), for import tests ---------

IMG = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
COMBOS = ("oiop", "oidp", "diop", "didp")


def png_cell(v: int) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (v, v, v)).save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


# The published benchmark layout's column types, as the authors' scripts wrote them:
# selected_dims json.dumps of a list (benchmark.py); hpsv2_reward and image_reward float() of each
# score (run_hpsv2.py takes element 0 of hpsv2.score's list; run_image_reward.py); hpsv3_reward
# tensor.tolist() of [mu, log sigma] (eval_later.ipynb); blip_score the 2x2 ITM logits tolist();
# rater preds / scores lists (rater_training/infer.py); labels ints with -1 for a tie.
PUBLISHED = pa.schema(
    [
        ("image_original", IMG),
        ("image_distorted", IMG),
        ("index", pa.int64()),
        ("prompt_original", pa.string()),
        ("prompt_distorted", pa.string()),
        ("selected_dims", pa.string()),
        (
            "llm_judge",
            pa.struct(
                [
                    (f"llm_{v}_{k}", pa.string() if k == "reasoning" else pa.int64())
                    for v in ("original", "distorted")
                    for k in ("reasoning", "main_concepts", "special_effects")
                ]
            ),
        ),
        ("hpsv2_reward", pa.struct([(f"hpsv2_{c}", pa.float64()) for c in COMBOS])),
        ("hpsv3_reward", pa.struct([(f"hpsv3_{c}", pa.list_(pa.float64())) for c in COMBOS])),
        ("image_reward", pa.struct([(f"image_reward_{c}", pa.float64()) for c in COMBOS])),
        (
            "rater",
            pa.struct(
                [
                    (s, pa.struct([("preds", pa.list_(pa.int64())), ("scores", pa.list_(pa.float64()))]))
                    for s in ("original", "distorted")
                ]
            ),
        ),
        ("llm_selected", pa.int64()),
        ("blip_selected", pa.int64()),
        ("model", pa.string()),
        ("blip_score", pa.list_(pa.list_(pa.float64()))),
        ("blip_score_original", pa.float64()),
        ("sec_llm_selected", pa.int64()),
        ("third_llm_selected", pa.int64()),
    ]
)


def published_row(model: str, i: int, rng) -> dict:
    h3 = {c: [float(rng.normal(8, 3)), 0.5] for c in COMBOS}
    return {
        "image_original": png_cell(10 * i),
        "image_distorted": png_cell(10 * i + 5),
        "index": i,
        "prompt_original": f"caption {i}",
        "prompt_distorted": f"caption {i}, dark and blurred",
        "selected_dims": json.dumps(["clarity", "color brightness"]),
        "llm_judge": {
            f"llm_{v}_{k}": ("why" if k == "reasoning" else 50)
            for v in ("original", "distorted")
            for k in ("reasoning", "main_concepts", "special_effects")
        },
        "hpsv2_reward": {f"hpsv2_{c}": float(rng.normal(0.28, 0.01)) for c in COMBOS},
        "hpsv3_reward": {f"hpsv3_{c}": h3[c] for c in COMBOS},
        "image_reward": {f"image_reward_{c}": float(rng.normal()) for c in COMBOS},
        "rater": {s: {"preds": [1] * 11, "scores": list(rng.uniform(0, 2, 11))} for s in ("original", "distorted")},
        "llm_selected": int(rng.choice([-1, 0, 1, 1])),
        "blip_selected": 1,
        "model": model,
        "blip_score": [[float(rng.normal()), float(rng.normal())], [float(rng.normal()), float(rng.normal())]],
        "blip_score_original": 0.1,
        "sec_llm_selected": int(rng.choice([-1, 0, 1])),
        "third_llm_selected": int(rng.choice([-1, 0, 1])),
    }


def write_published(root: Path):
    """A two-shard copy of the published layout: (folder, rows)."""
    rng = np.random.default_rng(7)
    rows = [
        published_row(m, i, rng)
        for m in ("flux_dev", "dance_flux", "stable_diffusion_3.5_medium", "sd3_medium_grpo", "sd3_medium_grpo")
        for i in range(6)
    ]
    folder = root / "aas_benchmark_final" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows[:12], schema=PUBLISHED), folder / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(rows[12:], schema=PUBLISHED), folder / "train-00001-of-00002.parquet")
    return folder.parent, rows


class NoFaceDetector(Detector):
    """A detector that finds nothing (the emotion study's "no face" outcome)."""

    def detect(self, images, query):
        return [None] * len(images)


class DiesOnceSettings(Strict):
    marker: str  # a file: absent, the scorer kills its own process (and creates it first)


class DiesOnceScorer(Scorer):
    """Kills the process it runs in the first time it scores (a worker lost mid-task)."""

    Settings = DiesOnceSettings
    prompt_dependent = False
    exact_batches = False

    def score(self, images, prompts):
        marker = Path(self.settings.marker)
        if not marker.exists():
            marker.write_text("died once")
            os._exit(1)
        return np.array([float(np.asarray(im.convert("L")).mean()) for im in images])
