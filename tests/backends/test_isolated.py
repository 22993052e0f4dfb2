"""The isolation path: a scorer whose environment pins a release that conflicts with ours
(transformers 4.45.2 beside our 5.x) runs through the worker protocol, in one build."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aas_dataset.backends.isolated.env import IsolatedEnv  # noqa: E402
from aas_dataset.catalog import resolve  # noqa: E402
from aas_dataset.spec.recipe import Entry  # noqa: E402

PINNED = ["torch==2.13.0", "transformers==4.45.2", "pillow", "numpy"]


@pytest.fixture(scope="module")
def tiny_clip_folder(tmp_path_factory):
    from aas_dataset.backends.scorers.clip import ClipScorer

    s = resolve("scorer", "clip_tiny").instantiate()
    assert isinstance(s, ClipScorer)
    s.load()
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    s.model.save_pretrained(folder)
    s.tokenizer.save_pretrained(folder)
    s.processor.save_pretrained(folder)
    return folder


def _images():
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 36, 3), dtype=np.uint8)) for i in range(5)]


@pytest.mark.slow
def test_isolated_scorer_with_a_conflicting_pin_matches_the_native_one(tiny_clip_folder, env_dir, monkeypatch):
    monkeypatch.setenv("AAS_ENV_DIR", env_dir)
    env = IsolatedEnv(PINNED)
    python = env.ensure()
    ver = subprocess.run(
        [str(python), "-c", "import transformers; print(transformers.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    assert ver == "4.45.2"  # the worker really runs the conflicting release
    assert json.loads((env.path / "aas-ready.json").read_text())["requirements"] == sorted(PINNED)

    iso_entry = Entry.model_validate(
        {
            "kind": "isolated",
            "model_id": str(tiny_clip_folder),
            "settings": {"requirements": PINNED, "runner": "hf_clip", "runner_args": {"scale": "cosine"}},
        }
    )
    native_entry = Entry.model_validate(
        {"kind": "clip", "model_id": str(tiny_clip_folder), "settings": {"device": "cpu"}}
    )
    iso = resolve("scorer", "iso", extra={"iso": iso_entry}).instantiate()
    native = resolve("scorer", "nat", extra={"nat": native_entry}).instantiate()
    iso.load()
    native.load()
    try:
        images = _images()
        prompts = ["a dark alley", "a bright beach", "a cat", "blurry fog over a lake", "x"]
        a = iso.score(images, prompts)
        b = native.score(images, prompts)
        assert a.shape == (5,)
        np.testing.assert_allclose(a, b, atol=1e-5)  # transformers 4.45.2 vs 5.x on the same weights
        assert np.allclose(iso.score(images[:2], prompts[:2]), a[:2], atol=1e-6)  # one load, many batches
    finally:
        iso.close()
    assert iso.proc.returncode == 0


def test_a_failing_runner_is_a_clear_error_and_the_worker_survives(tmp_path, monkeypatch, env_dir):
    """Runs the worker under our own Python (no env build): the protocol, not the packages."""
    from aas_dataset.backends.isolated import env as isolated

    runner = tmp_path / "bad.py"
    runner.write_text(
        "def load(args):\n    return args\n"
        "def score(state, paths, prompts):\n"
        "    if prompts[0] == 'boom':\n        raise ValueError('cannot score this')\n"
        "    return [len(p) for p in prompts]\n"
    )
    monkeypatch.setattr(isolated.IsolatedEnv, "ensure", lambda self, log=None: __import__("sys").executable)
    e = Entry.model_validate({"kind": "isolated", "settings": {"requirements": ["x"], "runner": str(runner)}})
    s = resolve("scorer", "bad", extra={"bad": e}).instantiate()
    s.load()
    try:
        imgs = _images()[:2]
        with pytest.raises(RuntimeError, match="cannot score this"):
            s.score(imgs, ["boom", "b"])
        assert list(s.score(imgs, ["abc", "de"])) == [3.0, 2.0]
    finally:
        s.close()
    missing = Entry.model_validate({"kind": "isolated", "settings": {"requirements": ["x"], "runner": "nope"}})
    with pytest.raises(RuntimeError, match="runner 'nope' not found"):
        resolve("scorer", "m", extra={"m": missing}).instantiate().load()


def test_environment_build_failure_leaves_nothing_that_looks_ready(tmp_path):
    env = IsolatedEnv(["this-package-does-not-exist-aas==9.9.9"], root=tmp_path)
    with pytest.raises(RuntimeError, match="pip could not build"):
        env.ensure()
    assert not env.ready and not env.path.exists()
    assert not list(tmp_path.glob("*.tmp-*"))
