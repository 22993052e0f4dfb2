from __future__ import annotations

import json

import pytest
from datasets import load_dataset
from typer.testing import CliRunner

from aas_dataset.cli import app
from aas_dataset.release.hub import ReleaseError, plan_release, publish
from aas_dataset.release.manifest import read_manifest, verify
from aas_dataset.release.webdataset import export_webdataset, sample_key

runner = CliRunner()


def test_sample_keys_have_no_dots():
    assert sample_key("stable_diffusion_3.5_medium", 7) == "stable_diffusion_3_5_medium-00007"


def test_webdataset_export_reads_back_everywhere(release_copy):
    files = export_webdataset(release_copy)
    assert files == ["webdataset/pairs/test-00000-of-00002.tar", "webdataset/pairs/test-00001-of-00002.tar"]
    assert verify(release_copy).ok  # the export is recorded in MANIFEST
    first = (release_copy / files[0]).read_bytes()
    export_webdataset(release_copy)
    assert (release_copy / files[0]).read_bytes() == first  # byte-reproducible

    import webdataset as wds

    urls = [str(release_copy / f) for f in files]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == 48
    keys = {frozenset(k for k in s if not k.startswith("__")) for s in samples}
    assert keys == {frozenset({"json", "original.png", "distorted.png"})}
    s = samples[0]
    meta = s["json"]
    assert s["__key__"] == sample_key(meta["model"], meta["index"])
    assert s["original.png"].size == (64, 64)

    ds = load_dataset("webdataset", data_files={"test": urls}, split="test")
    assert ds.num_rows == 48
    assert {"original.png", "distorted.png", "json"} <= set(ds.column_names)
    pairs = load_dataset(str(release_copy), "pairs", split="test")
    by_key = {sample_key(r["model"], r["index"]): r for r in pairs}
    row = ds[0]
    ref = by_key[row["__key__"]]
    assert row["original.png"].tobytes() == ref["image_original"].tobytes()


class FakeRefs:
    def __init__(self, tags):
        self.tags = [type("Ref", (), {"name": t})() for t in tags]


class FakeApi:
    """Records calls instead of reaching the Hub. Every call is bound to the real `HfApi`
    method's signature first, so a misspelt or removed keyword fails here as it would there."""

    def __init__(self, tags=()):
        self.calls = []
        self.tags = list(tags)

    @staticmethod
    def _bind(name: str, *args, **kw) -> dict:
        import inspect

        from huggingface_hub import HfApi

        bound = inspect.signature(getattr(HfApi, name)).bind(None, *args, **kw)  # None: self
        return {k: v for k, v in bound.arguments.items() if k != "self"}

    def create_repo(self, *args, **kw):
        a = self._bind("create_repo", *args, **kw)
        self.calls.append(("create_repo", a.pop("repo_id"), a))

    def list_repo_refs(self, *args, **kw):
        self._bind("list_repo_refs", *args, **kw)
        return FakeRefs(self.tags)

    def upload_folder(self, *args, **kw):
        self.calls.append(("upload_folder", self._bind("upload_folder", *args, **kw)))
        return type("Commit", (), {"oid": "abc123"})()

    def create_tag(self, *args, **kw):
        a = self._bind("create_tag", *args, **kw)
        self.calls.append(("create_tag", a.pop("repo_id"), a))


def test_release_uploads_then_tags_that_commit(release_copy):
    plan = plan_release(release_copy, "org/aas", "v1.0.0")
    assert ("MANIFEST.json", (release_copy / "MANIFEST.json").stat().st_size) in plan.files
    api = FakeApi()
    sha = publish(release_copy, plan, api=api)
    assert sha == "abc123"
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "upload_folder", "create_tag"]
    assert api.calls[0][2]["exist_ok"] is True and api.calls[0][2]["repo_type"] == "dataset"
    up = api.calls[1][1]
    assert up["repo_type"] == "dataset" and ".aas/**" in up["ignore_patterns"]
    assert api.calls[2][2]["revision"] == "abc123" and api.calls[2][2]["tag"] == "v1.0.0"


def test_release_never_moves_an_existing_tag(release_copy):
    api = FakeApi(tags=["v1.0.0"])
    with pytest.raises(ReleaseError, match="already exists"):
        publish(release_copy, plan_release(release_copy, "org/aas", "v1.0.0"), api=api)
    assert "upload_folder" not in [c[0] for c in api.calls]


def test_release_refuses_a_corrupt_folder(release_copy):
    (release_copy / "README.md").write_text("changed")
    with pytest.raises(ReleaseError, match="README.md: size"):
        plan_release(release_copy, "org/aas", "v1.0.0")
    res = runner.invoke(app, ["release", str(release_copy), "--repo-id", "org/aas", "--tag", "v1.0.0", "--dry-run"])
    assert res.exit_code == 2


def test_release_dry_run_prints_plan_and_no_token(release_copy, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SENTINELTOKEN123456")
    res = runner.invoke(app, ["release", str(release_copy), "--repo-id", "org/aas", "--tag", "v0.1.0", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "dry run: nothing uploaded" in res.output and "MANIFEST.json" in res.output
    assert "verify: passed" in res.output and "token: present" in res.output and "public" in res.output
    assert '"Release v0.1.0"' in res.output and "tag: v0.1.0" in res.output
    assert "SENTINEL" not in res.output
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(release_copy / ".no-hf-home"))
    res = runner.invoke(
        app, ["release", str(release_copy), "--repo-id", "org/aas", "--tag", "v0.1.0", "--dry-run", "--private"]
    )
    assert "token: missing" in res.output and "private" in res.output


@pytest.mark.parametrize("repo, tag, msg", [("noslash", "v1.0.0", "ORG/NAME"), ("o/n", "1.0", "vX.Y.Z")])
def test_release_input_checks(release_copy, repo, tag, msg):
    with pytest.raises(ReleaseError, match=msg):
        plan_release(release_copy, repo, tag)


def test_manifest_records_recipe_and_software(release_copy):
    m = read_manifest(release_copy)
    assert m["recipe"]["generators"][0]["settings"]["steps"] == 4
    assert {"aas_dataset", "datasets", "pyarrow", "torch", "diffusers"} <= set(m["software"])
    assert json.dumps(m).count("sha256") >= 5


def test_release_without_a_token_is_a_clear_error(release_copy, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no cached login either
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))  # read at call time
    res = runner.invoke(app, ["release", str(release_copy), "--repo-id", "org/aas", "--tag", "v1.0.0"])
    assert isinstance(res.exception, SystemExit) and res.exit_code == 2  # a message, not a crash
    assert "no Hub token: set HF_TOKEN or run `hf auth login`" in res.output


def test_the_card_says_auxiliary_outputs_are_not_preferences_and_has_a_results_section(smoke_release):
    card = (smoke_release / "README.md").read_text()
    assert "| `score_blip_itm_large_neg` | BLIP ITM no-match logit" in card and "not a preference" in card
    assert "## Results" in card and "<!-- results -->" in card and "## Versions" in card


def test_the_card_shows_example_pairs_and_a_license_table(smoke_release):
    from PIL import Image

    from aas_dataset.release.manifest import read_manifest

    card = (smoke_release / "README.md").read_text()
    m = read_manifest(smoke_release)
    examples = sorted(p for p in m["files"] if p.startswith("examples/"))
    assert examples and len(examples) % 2 == 0  # I_o and I_a of each pair, recorded in MANIFEST (verify checks them)
    models = set()
    for rel in examples:
        assert f'<img src="{rel}"' in card
        im = Image.open(smoke_release / rel)
        assert im.format == "JPEG" and max(im.size) <= 256
        models.add(rel.split("-")[1])
    assert len(models) == len(examples) // 2  # each pair from another model
    gens = [g["name"] for g in m["recipe"]["generators"]]
    for g in gens:  # one license line per generator of the images in `pairs`
        assert f"| `pairs` | images of `{g}` |" in card
    head = card.split("---")[1]  # builders/smoke.yaml says `license: other`: the Hub asks a name and a link
    assert "license: other" in head and "license_name: smoke-per-config" in head
    assert "license_link: README.md#licenses" in head
