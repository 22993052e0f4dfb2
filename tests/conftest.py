"""Fixtures the tests share; plain helpers are in tests/helpers.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .helpers import AUTHORS_TEXTS, SMOKE, needs_registry, write_authors_repo, write_published

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory):
    """Where isolated scorer environments are built (cached across runs with AAS_TEST_ENV_DIR)."""
    needs_registry("an isolated environment")
    return os.environ.get("AAS_TEST_ENV_DIR") or str(tmp_path_factory.mktemp("envs"))


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


@pytest.fixture
def authors_dir(tmp_path, monkeypatch) -> Path:
    """A stand-in copy of the authors' repository whose texts are the recorded ones."""
    import dataclasses
    import hashlib

    from aas_dataset.spec import instructions

    root = write_authors_repo(tmp_path / "AAS")

    def rec(t, text):
        return dataclasses.replace(t, length=len(text), sha256_prefix=hashlib.sha256(text.encode()).hexdigest()[:16])

    official = {  # texts of weathon/AAS get stand-ins; the others (another repository) stay as they are
        role: {
            part: rec(t, AUTHORS_TEXTS[(role, part)]) if (role, part) in AUTHORS_TEXTS else t
            for part, t in parts.items()
        }
        for role, parts in instructions.OFFICIAL.items()
    }
    monkeypatch.setattr(instructions, "OFFICIAL", official)
    monkeypatch.setattr(instructions, "EFFECTS", rec(instructions.EFFECTS, (root / "prompts.json").read_text()))
    return root


@pytest.fixture
def published(tmp_path):
    """The published benchmark layout, two shards: (folder, the rows written)."""
    return write_published(tmp_path)
