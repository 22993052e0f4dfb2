"""`aas release` against a loopback Hub (`aas_dataset.testing.fake_hub`): publish, read back with
`datasets` and our loader at a tag, a second version beside the first, a tag never moved, faults
on commit, an interrupted upload rerun, and the token in no output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aas_dataset.release.manifest import read_manifest
from aas_dataset.testing.fake_hub import Behaviour, FakeHubServer

from ..helpers import ROOT, write_recipe

TOKEN = "hf_loopback_token_8c1f0e6b2d9a47"
REPO = "org/aas_benchmark"


def _env(hub: FakeHubServer, home: Path) -> dict:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }


def _release(folder: Path, tag: str, env: dict) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "aas_dataset", "release", str(folder), "--repo-id", REPO, "--tag", tag]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


_READ_BACK = """
import hashlib, json, sys
from huggingface_hub import hf_hub_download
import aas_dataset
from datasets import load_dataset
tag = sys.argv[1]
ds = load_dataset("org/aas_benchmark", "pairs", revision=tag, split="test")
ours = aas_dataset.load("scores", source="org/aas_benchmark", revision=tag)
m = json.load(open(hf_hub_download("org/aas_benchmark", "MANIFEST.json", repo_type="dataset", revision=tag)))
get = lambda p: open(hf_hub_download("org/aas_benchmark", p, repo_type="dataset", revision=tag), "rb").read()
shas = {p: hashlib.sha256(get(p)).hexdigest() for p in m["files"]}
print(json.dumps({"pairs": len(ds), "scores": len(ours), "manifest": m["files"], "downloaded": shas}))
"""


def _read_back(tag: str, env: dict) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", _READ_BACK, tag], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.fixture()
def two_versions(smoke_release, tmp_path) -> tuple[Path, Path]:
    """The smoke release, and a second version of it (same units, a new recipe version)."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    v1 = tmp_path / "v1"
    shutil.copytree(smoke_release, v1, ignore=shutil.ignore_patterns("report"))
    v2 = tmp_path / "v2"
    shutil.copytree(smoke_release, v2, ignore=shutil.ignore_patterns("report"))
    recipe = write_recipe(tmp_path / "r.yaml", version="0.2.0", description="the second version")
    report = Builder(load_recipe(recipe), v2).run()
    assert report.model_calls == 0 and report.assembled  # the store had every unit
    return v1, v2


def test_release_then_load_at_a_tag_a_second_version_and_a_tag_never_moved(two_versions, tmp_path):
    v1, v2 = two_versions
    with FakeHubServer() as hub:
        env = _env(hub, tmp_path / "home")
        first = _release(v1, "v1.0.0", env)
        assert first.returncode == 0, first.stderr
        back = _read_back("v1.0.0", env)
        m1 = read_manifest(v1)
        assert back["pairs"] == m1["counts"]["pairs"] and back["scores"] == m1["counts"]["pairs"]
        assert back["downloaded"] == {p: f["sha256"] for p, f in m1["files"].items()}  # byte-identical
        second = _release(v2, "v1.1.0", env)
        assert second.returncode == 0, second.stderr
        assert _read_back("v1.1.0", env)["manifest"] == read_manifest(v2)["files"]
        again = _read_back("v1.0.0", env)  # the first version is still there, unchanged
        assert again["downloaded"] == back["downloaded"]
        moved = _release(v2, "v1.0.0", env)
        assert moved.returncode == 2 and "never moved" in moved.stdout + moved.stderr
        repo = hub.behaviour.repos[f"dataset:{REPO}"]
        assert sorted(repo.tags) == ["v1.0.0", "v1.1.0"] and len(repo.commits) == 2
        assert f"Bearer {TOKEN}" in hub.behaviour.auth_headers  # the token was sent ...
        for p in (first, second, moved):
            assert TOKEN not in p.stdout + p.stderr  # ... and printed nowhere


def test_faults_on_commit_are_retried_and_an_interrupted_release_reruns_to_one_commit(smoke_release, tmp_path):
    folder = tmp_path / "rel"
    shutil.copytree(smoke_release, folder, ignore=shutil.ignore_patterns("report"))
    faults = {"commit": ["500", "429", "drop"]}  # transient: the release retries through them
    with FakeHubServer(Behaviour(faults=faults)) as hub:
        env = _env(hub, tmp_path / "home")
        ok = _release(folder, "v1.0.0", env)
        assert ok.returncode == 0, ok.stderr
        repo = hub.behaviour.repos[f"dataset:{REPO}"]
        assert len(repo.commits) == 1 and list(repo.tags) == ["v1.0.0"]
    with FakeHubServer(Behaviour(faults={"commit-stall": ["stall"]}, stall_s=30)) as hub:
        env = _env(hub, tmp_path / "home2")
        cmd = [sys.executable, "-m", "aas_dataset", "release", str(folder), "--repo-id", REPO, "--tag", "v1.0.0"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(600):  # until the upload is in flight
            if ("POST", f"/api/datasets/{REPO}/commit/main") in hub.behaviour.requests:
                break
            time.sleep(0.1)
        proc.kill()  # SIGKILL mid-upload
        killed_output = proc.communicate()[0]
        repo = hub.behaviour.repos[f"dataset:{REPO}"]
        time.sleep(0.5)
        assert not repo.commits and not repo.tags  # nothing half-published
        rerun = _release(folder, "v1.0.0", env)
        assert rerun.returncode == 0, rerun.stderr
        assert len(repo.commits) == 1 and list(repo.tags) == ["v1.0.0"]
        files = next(iter(repo.commits.values())).files
        assert {p: hashlib.sha256(b).hexdigest() for p, b in files.items() if p != "MANIFEST.json"} == {
            p: f["sha256"] for p, f in read_manifest(folder)["files"].items()
        }
        assert all(TOKEN not in text for text in (killed_output, rerun.stdout, rerun.stderr))


def _import(rows: list[dict], tmp: Path, name: str, official_dir: Path) -> Path:
    """A release imported from the published layout holding `rows`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aas_dataset.release.importers import import_hf

    from ..helpers import PUBLISHED

    src = tmp / f"{name}_src" / "data"
    src.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PUBLISHED), src / "train-00000-of-00001.parquet")
    out = tmp / name
    import_hf(str(src.parent), out, official_dir=str(official_dir))
    return out


def test_versions_follow_the_policy_and_the_card_gets_release_notes(authors_dir, published, tmp_path):
    from aas_dataset.release.diff import diff_releases

    _, rows = published
    base = _import(rows[:20], tmp_path, "base", authors_dir)
    more = _import(rows, tmp_path, "more", authors_dir)  # rows added
    relabeled = [dict(r) for r in rows]
    relabeled[3]["llm_selected"] = 1 - relabeled[3]["llm_selected"] if relabeled[3]["llm_selected"] in (0, 1) else 0
    changed = _import(relabeled, tmp_path, "changed", authors_dir)  # an existing label changed

    d = diff_releases(base, more)
    assert d.level == "minor" and {c.config: c.added for c in d.configs}["pairs"] == len(rows) - 20
    d = diff_releases(more, changed)
    assert d.level == "major" and {c.config: c.changed for c in d.configs}["scores"] == 1
    assert "1 existing row(s) of pairs changed" in d.reasons()
    with FakeHubServer() as hub:
        env = _env(hub, tmp_path / "home")
        assert _release(base, "v1.0.0", env).returncode == 0
        assert _release(more, "v1.1.0", env).returncode == 0  # MINOR: rows added
        refused = _release(changed, "v1.2.0", env)  # a label changed: MINOR is not enough
        assert refused.returncode == 2 and "needs MAJOR (v2.0.0)" in refused.stdout + refused.stderr
        stale = _release(changed, "v1.0.1", env)
        assert stale.returncode == 2 and "not greater than the latest tag v1.1.0" in stale.stdout + stale.stderr
        ok = _release(changed, "v2.0.0", env)
        assert ok.returncode == 0, ok.stderr
        repo = hub.behaviour.repos[f"dataset:{REPO}"]
        card = repo.resolve("v2.0.0").files["README.md"].decode()
        assert "## Release notes: v2.0.0 (from v1.1.0, MAJOR)" in card and "existing row(s) of pairs changed" in card
        assert "PATCH: the same data" in card  # the written policy
        assert "Reward models" in card and "| model |" in card  # the results, recomputed from the data
        cli = subprocess.run(
            [sys.executable, "-m", "aas_dataset", "diff", f"{REPO}@v1.0.0", f"{REPO}@v1.1.0", "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["level"] == "minor"


def test_a_build_from_a_hub_release_plus_a_scorer_and_the_notes_name_the_base(tmp_path):
    """Release A to the loopback Hub; elsewhere, `aas build --from org/...@v1.0.0` with one more
    scorer reuses A's units, equals a build from scratch, and the next release's notes say so."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    from ..helpers import mini_recipe

    base = mini_recipe(tmp_path / "a.yaml", n=2, scorers=["clip_tiny"])
    more = mini_recipe(tmp_path / "b.yaml", n=2, scorers=["clip_tiny", "image_stats"])
    a = tmp_path / "a"
    Builder(load_recipe(base), a).run()
    scratch = tmp_path / "scratch"
    Builder(load_recipe(more), scratch).run()
    with FakeHubServer() as hub:
        env = _env(hub, tmp_path / "home")
        assert _release(a, "v1.0.0", env).returncode == 0
        grown = tmp_path / "grown"
        cmd = [sys.executable, "-m", "aas_dataset", "build", str(more), "--out", str(grown),
               "--from", REPO, "--revision", "v1.0.0"]  # fmt: skip
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        assert "units written to the store" in p.stdout
        shas = lambda f: {k: v["sha256"] for k, v in read_manifest(f)["files"].items()}  # noqa: E731
        assert shas(grown) == shas(scratch)
        assert _release(grown, "v1.1.0", env).returncode == 0
        card = hub.behaviour.repos[f"dataset:{REPO}"].resolve("v1.1.0").files["README.md"].decode()
        assert f"built from `{REPO}@v1.0.0`" in card and "units reused from it" in card


_PUBLISH_RECORDING = """
import json, sys
from pathlib import Path
from huggingface_hub import HfApi
from aas_dataset.release.hub import plan_release, publish

class Recording:
    def __init__(self):
        self.api, self.files = HfApi(), []
    def __getattr__(self, name):
        return getattr(self.api, name)
    def snapshot_download(self, *a, **k):
        p = Path(self.api.snapshot_download(*a, **k))
        self.files += sorted(str(f.relative_to(p)) for f in p.rglob("*") if f.is_file())
        return str(p)

api, root = Recording(), Path(sys.argv[1])
publish(root, plan_release(root, "org/aas_benchmark", sys.argv[2]), api=api)
print(json.dumps(api.files))
"""


def test_the_version_check_downloads_only_the_configs_that_changed(authors_dir, published, tmp_path):
    """A release whose configs are byte for byte the last one's (here: a WebDataset export
    added) checks its version against that release's MANIFEST alone: no Parquet comes down."""
    _, rows = published
    base = _import(rows[:20], tmp_path, "base", authors_dir)
    exported = tmp_path / "exported"
    shutil.copytree(base, exported)
    p = subprocess.run([sys.executable, "-m", "aas_dataset", "export-webdataset", str(exported)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    with FakeHubServer() as hub:
        env = _env(hub, tmp_path / "home")
        assert _release(base, "v1.0.0", env).returncode == 0
        p = subprocess.run([sys.executable, "-c", _PUBLISH_RECORDING, str(exported), "v1.0.1"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        downloaded = json.loads(p.stdout.strip().splitlines()[-1])
        assert downloaded == ["MANIFEST.json"]  # the diff read the rest from the new folder's identical files
        card = hub.behaviour.repos[f"dataset:{REPO}"].resolve("v1.0.1").files["README.md"].decode()
        assert "(from v1.0.0, PATCH)" in card and "files added" in card
