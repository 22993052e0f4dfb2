from __future__ import annotations

import os
import socket
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from aas_dataset.catalog.recipes import parse_recipe
from aas_dataset.engine.build import Builder
from aas_dataset.engine.store import Store
from aas_dataset.spec.recipe import RecipeError

from ..helpers import SMOKE


def test_store_write_is_atomic_and_idempotent(tmp_path):
    s = Store(tmp_path)
    assert not s.has("generate", "ab" * 20)
    s.write("generate", "ab" * 20, {"meta.json": b"{}", "x.png": b"123"})
    assert s.has("generate", "ab" * 20) and s.read("generate", "ab" * 20, "x.png") == b"123"
    s.write("generate", "ab" * 20, {"meta.json": b"other"})  # done stays done
    assert s.read("generate", "ab" * 20, "meta.json") == b"{}"
    assert not list(s.tmp.iterdir())


def test_clean_tmp_spares_live_processes(tmp_path):
    s = Store(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    mine = s.tmp / f"{host}.{os.getpid()}.generate-x"
    crashed = s.tmp / f"{host}.{dead.pid}.generate-y"
    elsewhere = s.tmp / f"otherhost.{dead.pid}.generate-z"
    for d in (mine, crashed, elsewhere):
        d.mkdir(parents=True)
    s.clean_tmp()
    assert mine.exists() and elsewhere.exists() and not crashed.exists()


def test_failures_are_kept_beside_the_store_and_cleared_on_success(tmp_path):
    s = Store(tmp_path)
    s.record_failure("judge", "k" * 40, {"reason": "timeout"})
    assert s.failure("judge", "k" * 40) == {"reason": "timeout"}
    assert not s.has("judge", "k" * 40)
    s.write("judge", "k" * 40, {"meta.json": b"{}"})
    assert s.failure("judge", "k" * 40) is None


def _hub_folder(tmp_path):
    folder = tmp_path / "hub_like"
    (folder / "data").mkdir(parents=True)
    table = pa.table({"text": [f"caption number {i}" for i in range(50)], "other": list(range(50))})
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
    return folder


def test_hub_captions_are_sampled_and_cached(tmp_path):
    folder = _hub_folder(tmp_path)
    data = yaml.safe_load(SMOKE.read_text())
    data["captions"] = {"hub": {"id": str(folder), "column": "text"}, "count": 5, "seed": 3}
    b = Builder(parse_recipe(data, "r", SMOKE), tmp_path / "out")
    assert not b.captions_available
    caps = b.captions()
    assert len(caps) == 5 and all(c.startswith("caption number") for c in caps)
    assert b.captions_available  # cached in the store: later plans and builds need no network
    for p in (folder / "data").glob("*.parquet"):
        p.unlink()
    assert b.captions() == caps


def test_hub_captions_unknown_column(tmp_path):
    folder = _hub_folder(tmp_path)
    data = yaml.safe_load(SMOKE.read_text())
    data["captions"] = {"hub": {"id": str(folder), "column": "caption"}, "count": 5}
    with pytest.raises(RecipeError, match="has no column 'caption'"):
        Builder(parse_recipe(data, "r", SMOKE), tmp_path / "out").captions()


def test_too_few_captions_for_count(tmp_path):
    data = yaml.safe_load(SMOKE.read_text())
    data["captions"] = {"inline": ["a", "b"], "count": 3}
    with pytest.raises(RecipeError, match="captions.count: 3 requested, only 2 available"):
        Builder(parse_recipe(data, "r", SMOKE), tmp_path / "out").captions()


def test_unreachable_hub_captions_are_a_recipe_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = yaml.safe_load(SMOKE.read_text())
    data["captions"] = {"hub": {"id": "no-such-org/no-such-captions", "column": "text"}, "count": 3}
    with pytest.raises(RecipeError, match="captions.hub: cannot load 'no-such-org/no-such-captions'"):
        Builder(parse_recipe(data, "r", SMOKE), tmp_path / "out").captions()


def test_a_build_on_an_object_store_url_equals_a_local_one(tmp_path):
    """fsspec's memory:// stands in for a bucket: the same release, a rerun that does no model
    work, and a unit whose files landed without its marker (a crash) counts as not done."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder
    from aas_dataset.engine.store import ObjectStore, open_store
    from aas_dataset.release.manifest import read_manifest

    from ..helpers import mini_recipe

    recipe = mini_recipe(tmp_path / "r.yaml", n=3)
    local, remote = tmp_path / "local", tmp_path / "remote"
    Builder(load_recipe(recipe), local).run()
    url = "memory://aas-tests/store"
    first = Builder(load_recipe(recipe), remote, store_dir=url).run()
    shas = lambda f: {k: v["sha256"] for k, v in read_manifest(f)["files"].items()}  # noqa: E731
    assert shas(local) == shas(remote) and first.model_calls > 0
    assert not (remote / ".aas" / "store" / "generate").exists()  # the artifacts live at the URL
    again = Builder(load_recipe(recipe), remote, store_dir=url).run()
    assert again.model_calls == 0
    store = open_store(url, tmp_path / "cache")
    assert isinstance(store, ObjectStore)
    store.fs.pipe_file(f"{url}/score/ab/ab{'0' * 38}/meta.json", b"{}")  # files, no marker
    assert not store.has("score", "ab" + "0" * 38)
    store.record_failure("score", "k" * 40, {"reason": "x"})
    assert store.failure("score", "k" * 40) == {"reason": "x"}
    store.clear_failure("score", "k" * 40)
    assert store.failure("score", "k" * 40) is None


def test_a_build_on_s3_served_by_moto_on_loopback(tmp_path, monkeypatch):
    """The same store on s3:// against moto's S3 server on 127.0.0.1 (s3fs as the client)."""
    from moto.server import ThreadedMotoServer

    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder
    from aas_dataset.release.manifest import read_manifest

    from ..helpers import mini_recipe

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        for k, v in {**env, "AWS_ENDPOINT_URL_S3": endpoint}.items():
            monkeypatch.setenv(k, v)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem(endpoint_url=endpoint).mkdir("aas-bucket")
        recipe = mini_recipe(tmp_path / "r.yaml", n=2)
        local, remote = tmp_path / "local", tmp_path / "remote"
        Builder(load_recipe(recipe), local).run()
        first = Builder(load_recipe(recipe), remote, store_dir="s3://aas-bucket/store").run()
        shas = lambda f: {k: v["sha256"] for k, v in read_manifest(f)["files"].items()}  # noqa: E731
        assert first.model_calls > 0 and shas(local) == shas(remote)
        assert Builder(load_recipe(recipe), remote, store_dir="s3://aas-bucket/store").run().model_calls == 0
    finally:
        server.stop()
