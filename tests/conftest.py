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
    from aas_dataset.build import Builder
    from aas_dataset.recipe import load_recipe

    out = tmp_path_factory.mktemp("smoke") / "aas_benchmark"
    report = Builder(load_recipe(SMOKE), out).run()
    assert not report.failures
    return out


@pytest.fixture
def release_copy(smoke_release, tmp_path) -> Path:
    dst = tmp_path / "release"
    shutil.copytree(smoke_release, dst, ignore=shutil.ignore_patterns(".aas"))
    return dst
