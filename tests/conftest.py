from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

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


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory):
    """Where isolated scorer environments are built (cached across runs with AAS_TEST_ENV_DIR)."""
    needs_registry("an isolated environment")
    return os.environ.get("AAS_TEST_ENV_DIR") or str(tmp_path_factory.mktemp("envs"))


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


@pytest.fixture(scope="session")
def smoke_release(tmp_path_factory) -> Path:
    """The smoke recipe built once per session with the Python API."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    out = tmp_path_factory.mktemp("smoke") / "aas_benchmark"
    report = Builder(load_recipe(SMOKE), out).run()
    assert not report.failures
    return out


@pytest.fixture
def release_copy(smoke_release, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(smoke_release, dst, ignore=shutil.ignore_patterns(".aas"))
    return dst


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


@pytest.fixture
def authors_dir(tmp_path, monkeypatch) -> Path:
    """A stand-in copy of the authors' repository whose texts are the recorded ones."""
    import dataclasses
    import hashlib

    from aas_dataset.spec import instructions

    root = write_authors_repo(tmp_path / "AAS")

    def rec(t, text):
        return dataclasses.replace(t, length=len(text), sha256_prefix=hashlib.sha256(text.encode()).hexdigest()[:16])

    official = {
        role: {part: rec(t, AUTHORS_TEXTS[(role, part)]) for part, t in parts.items()}
        for role, parts in instructions.OFFICIAL.items()
    }
    monkeypatch.setattr(instructions, "OFFICIAL", official)
    monkeypatch.setattr(instructions, "EFFECTS", rec(instructions.EFFECTS, (root / "prompts.json").read_text()))
    return root
