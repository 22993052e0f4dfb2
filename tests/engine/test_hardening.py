"""What a build or an import may never do: write into a folder that is not ours, start work
that must fail, or call a systemic failure a success."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aas_dataset.cli import app

from ..helpers import mini_recipe

runner = CliRunner()


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_build_refuses_a_folder_that_is_not_a_release(tmp_path):
    out = tmp_path / "mine"
    (out / "pairs").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "pairs" / "photo.png").write_bytes(b"not ours")
    before = _tree(out)
    res = runner.invoke(app, ["build", str(mini_recipe(tmp_path / "r.yaml", n=1)), "--out", str(out)])
    assert res.exit_code == 2 and "not an aas_dataset release" in res.output and "notes.txt" in res.output
    assert _tree(out) == before and (out / "notes.txt").read_text() == "my notes"  # nothing written


def test_build_refuses_a_file_and_another_recipes_release_without_overwrite(tmp_path):
    recipe = mini_recipe(tmp_path / "r.yaml", n=1)
    afile = tmp_path / "afile"
    afile.write_text("x")
    res = runner.invoke(app, ["build", str(recipe), "--out", str(afile)])
    assert res.exit_code == 2 and "is a file" in res.output
    out = tmp_path / "rel"
    assert runner.invoke(app, ["build", str(recipe), "--out", str(out)]).exit_code == 0
    other = mini_recipe(tmp_path / "other.yaml", n=1, name="other")
    res = runner.invoke(app, ["build", str(other), "--out", str(out)])
    assert res.exit_code == 2 and "holds the release 'smoke', not 'other'" in res.output
    assert runner.invoke(app, ["build", str(other), "--out", str(out), "--overwrite"]).exit_code == 0
    assert runner.invoke(app, ["build", str(other), "--out", str(out)]).exit_code == 0  # its own release now


def test_plan_writes_nothing(tmp_path):
    out = tmp_path / "planned"
    res = runner.invoke(app, ["build", str(mini_recipe(tmp_path / "r.yaml", n=1)), "--out", str(out), "--plan"])
    assert res.exit_code == 0, res.output
    assert not out.exists()


def test_import_refuses_a_folder_that_is_not_a_release(tmp_path, published, authors_dir):
    src, _ = published
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("my own readme")
    res = runner.invoke(app, ["import-hf", str(src), "--out", str(out), "--official-dir", str(authors_dir)])
    assert res.exit_code == 2 and "not an aas_dataset release" in res.output
    assert _tree(out) == ["README.md"] and (out / "README.md").read_text() == "my own readme"


def test_a_missing_api_key_stops_the_build_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("AAS_LLM_API_KEY", raising=False)
    recipe = mini_recipe(tmp_path / "r.yaml", n=1, judges=["local_llm_judge"], ground_truth="local_llm_judge")
    out = tmp_path / "out"
    for extra in ([], ["--plan"]):
        res = runner.invoke(app, ["build", str(recipe), "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        assert "judge 'local_llm_judge' needs the environment variable AAS_LLM_API_KEY, which is not set" in res.output
        assert not out.exists()


def _flaky_recipe(tmp_path, fail_word):
    return mini_recipe(
        tmp_path / "r.yaml",
        captions={"inline": ["A cat on a mat.", "A dog in the snow."]},
        catalog={
            "generators": {"flaky": {"kind": "tests.helpers:FlakyGenerator", "settings": {"fail_word": fail_word}}}
        },
        generators=["flaky"],
        scorers=["image_stats"],
    )


def test_failures_exit_non_zero_and_never_shrink_a_release(tmp_path):
    import json

    out = tmp_path / "out"
    assert runner.invoke(app, ["build", str(_flaky_recipe(tmp_path, "NOPE")), "--out", str(out)]).exit_code == 0
    before = (out / "MANIFEST.json").read_bytes()
    assert json.loads(before)["counts"]["pairs"] == 2
    # the generator now fails on one caption: the build goes on, exits 1, and keeps the fuller release
    res = runner.invoke(app, ["build", str(_flaky_recipe(tmp_path, "dog")), "--out", str(out)])
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert "3 unit(s) failed or were blocked" in text  # the pair, and its judge and score units
    assert "kept the release" in text and "pairs 2 -> 1" in text
    assert (out / "MANIFEST.json").read_bytes() == before
    res = runner.invoke(app, ["build", str(_flaky_recipe(tmp_path, "dog")), "--out", str(out), "--allow-failures"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "MANIFEST.json").read_text())["counts"]["pairs"] == 1


# --- secrets ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("var", "length", "echo", "role"),
    [
        ("AAS_LLM_API_KEY", 40, "error", "rewriter"),
        ("MY_LAB_CRED", 5, "reply", "rewriter"),  # a name no pattern guesses, a short value
        ("HF_TOKEN", 300, "reply", "judge"),  # longer than any excerpt of a reply
        ("ENDPOINT_PW", 12, "error", "judge"),
    ],
)
def test_a_key_echoed_by_the_endpoint_reaches_no_file_and_no_output(tmp_path, monkeypatch, var, length, echo, role):
    """An endpoint that puts the caller's key in a non-JSON reply or an error body: the key is
    in every failure reason it causes, so each one must be redacted before it is stored,
    printed or cut to an excerpt."""
    import random

    from aas_dataset.testing.fake_openai import Behaviour, FakeOpenAIServer

    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    secret = "".join(random.Random(length).choice(alphabet) for _ in range(length))
    monkeypatch.setenv(var, secret)
    with FakeOpenAIServer(Behaviour(echo_key=echo)) as srv:
        llm = {"base_url": srv.base_url, "api_key_env": var, "max_attempts": 1}
        changes = (
            {"rewriter": {"name": "local_openai_chat", "settings": llm}, "judges": []}
            if role == "rewriter"
            else {"judges": [{"name": "local_llm_judge", "settings": llm}]}
        )
        out = tmp_path / "out"
        res = runner.invoke(
            app, ["build", str(mini_recipe(tmp_path / "r.yaml", n=2, scorers=[], **changes)), "--out", str(out)]
        )
        assert srv.behaviour.auth_headers == {f"Bearer {secret}"}  # the key was sent, and echoed
    assert res.exit_code == 1, res.output
    reasons = [f["reason"] for f in json.loads((out / "MANIFEST.json").read_text())["failures"]]
    assert reasons and all(f"<${var}>" in r for r in reasons if "upstream failed" not in r), reasons
    # no piece of it either (an excerpt cut before redaction would leave one)
    pieces = {secret[i : i + 16] for i in range(max(1, len(secret) - 15))}
    console = "".join(res.output.split())  # the console wraps long lines
    assert not [x for x in pieces if x in console]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "MANIFEST.json" for p in written) and any("store" in p.parts for p in written)
    for p in written:
        data = p.read_bytes()
        assert not [x for x in pieces if x.encode() in data], p


def test_redact_knows_the_hub_token_at_any_length_and_spares_ordinary_settings(monkeypatch):
    from aas_dataset.util import redact

    monkeypatch.setenv("HF_TOKEN", "hf_ab")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("SERVICE_SECRET", "s3cr3t-value-long")
    text = redact("token hf_ab, parallel false, other s3cr3t-value-long")
    assert text == "token <$HF_TOKEN>, parallel false, other <$SERVICE_SECRET>"


# --- identity ----------------------------------------------------------------------------------
def test_identical_captions_are_two_prompts(tmp_path):
    """Two equal captions that draw the same dimensions are still two rows: the row index is
    part of a prompt's identity, so `prompts.index` neither repeats nor skips."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder
    from aas_dataset.engine.stages.prompts import sample_dimensions

    same = "A red bicycle leaning on a wall."
    # a recipe seed under which rows 0 and 1 draw the same single dimension
    seed = next(s for s in range(500) if sample_dimensions(s, 0, 1, 1) == sample_dimensions(s, 1, 1, 1))
    recipe = mini_recipe(
        tmp_path / "r.yaml", captions={"inline": [same, same, "A dog."]}, seed=seed, dimensions={"min": 1, "max": 1}
    )
    units = Builder(load_recipe(recipe), tmp_path / "out").plan().stages[0].units
    assert units[0].payload["dims"] == units[1].payload["dims"]
    assert [u.payload["index"] for u in units] == [0, 1, 2] and len({u.key for u in units}) == 3
    res = runner.invoke(app, ["build", str(recipe), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    import pyarrow.parquet as pq

    prompts = pq.read_table(tmp_path / "out" / "prompts").to_pydict()
    assert prompts["index"] == [0, 1, 2] and prompts["prompt_original"][:2] == [same, same]


def test_transport_settings_stay_out_of_every_key(tmp_path):
    """Spelling an endpoint's host differently, or changing concurrency, timeouts or retries,
    regenerates nothing; a setting that changes outputs (the image size) does."""
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    def keys(**settings):
        gen = {"name": "gpt-image-1_5", "settings": {"base_url": "http://127.0.0.1:9/v1", **settings}}
        recipe = mini_recipe(tmp_path / "r.yaml", n=2, generators=[gen], scorers=[], judges=[])
        return [u.key for sp in Builder(load_recipe(recipe), tmp_path / "out").plan() for u in sp.units]

    base = keys()
    assert keys(base_url="http://localhost:9/v1/", concurrency=3, timeout_s=5, max_attempts=2) == base
    assert keys(size="1024x1536") != base


def test_a_second_writer_of_one_folder_is_told_who_holds_it(tmp_path):
    """Two builds (or a build and an import or export) into one folder: the second stops at
    once with the first's pid and host, and writes nothing."""
    import os
    import socket

    from aas_dataset.release.writer import folder_lock

    recipe = mini_recipe(tmp_path / "r.yaml", n=1)
    out = tmp_path / "out"
    with folder_lock(out, "a build of 'smoke'"):
        before = _tree(out)
        res = runner.invoke(app, ["build", str(recipe), "--out", str(out)])
        assert res.exit_code == 2, res.output
        line = " ".join(res.output.split())
        assert f"a build of 'smoke' (pid {os.getpid()} on {socket.gethostname()}) is writing this folder" in line
        assert _tree(out) == before
    res = runner.invoke(app, ["build", str(recipe), "--out", str(out)])  # the lock is freed with its holder
    assert res.exit_code == 0, res.output
    with folder_lock(out, "a build of 'smoke'"):
        res = runner.invoke(app, ["export-webdataset", str(out)])
        assert res.exit_code == 2 and "is writing this folder" in res.output


# --- empty and broken inputs -------------------------------------------------------------------
def test_an_empty_or_non_utf8_captions_file_is_a_recipe_error(tmp_path):
    for name, data, words in (
        ("empty.txt", b"\n  \n", "holds no captions"),
        ("latin1.txt", "A caf\u00e9 at night.\nA dog.\n".encode("latin-1"), "latin1.txt:1: not UTF-8 text"),
    ):
        (tmp_path / name).write_bytes(data)
        recipe = mini_recipe(tmp_path / "r.yaml", captions={"file": name})
        res = runner.invoke(app, ["build", str(recipe), "--out", str(tmp_path / "out"), "--plan"])
        assert res.exit_code == 2 and words in " ".join(res.output.split()), res.output
        assert "Traceback" not in res.output and not (tmp_path / "out").exists()


def test_a_scorer_that_returns_nan_is_a_named_failure(tmp_path):
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        captions={"inline": ["A cat.", "A NAN dog."]},
        catalog={"scorers": {"nan": {"kind": "tests.helpers:NaNScorer"}}},
        scorers=["nan"],
        judges=[],
    )
    out = tmp_path / "out"
    res = runner.invoke(app, ["build", str(recipe), "--out", str(out), "--allow-failures"])
    assert res.exit_code == 0, res.output
    fails = json.loads((out / "MANIFEST.json").read_text())["failures"]
    assert fails and all(f["stage"] == "score" and f["index"] == 1 for f in fails)
    assert all("non-finite value(s) (NaN or inf) of 4" in f["reason"] for f in fails)
    import pyarrow.parquet as pq

    scores = pq.read_table(out / "scores").to_pylist()
    assert {r["index"]: r["score_nan"] is None for r in scores} == {0: False, 1: True}


# --- one line, never a traceback ---------------------------------------------------------------
def test_an_unanticipated_error_is_one_line_and_aas_debug_shows_the_traceback(tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    recipe = mini_recipe(tmp_path / "r.yaml", n=1, scorers=[], judges=[])
    res = runner.invoke(app, ["build", str(recipe), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1] == (
        "error: OSError: [Errno 28] No space left on device (AAS_DEBUG=1 shows where)"
    )
    assert not (tmp_path / "out" / "MANIFEST.json").exists()
    monkeypatch.setenv("AAS_DEBUG", "1")
    res = runner.invoke(app, ["build", str(recipe), "--out", str(tmp_path / "out")])
    assert isinstance(res.exception, OSError)  # raised through, so the traceback is printed


def test_bad_inputs_are_one_line_errors(tmp_path, published):
    src, _ = published
    cases = []
    recipe = mini_recipe(
        tmp_path / "kind.yaml", n=1, catalog={"generators": {"g": {"kind": "no_such_kind"}}}, generators=["g"]
    )
    cases.append((["build", str(recipe), "--out", str(tmp_path / "o1"), "--plan"], 2, "no_such_kind"))
    shard = next((src / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[: len(shard.read_bytes()) // 2])  # truncated
    cases.append((["import-hf", str(src), "--out", str(tmp_path / "o2")], 2, f"{shard}: not a readable Parquet"))
    cases.append((["import-hf", "./aas_benchmrk_final", "--out", str(tmp_path / "o3")], 2, "no such folder"))
    cases.append((["import-hf", str(tmp_path / "typo" / "data"), "--out", str(tmp_path / "o4")], 2, "no such folder"))
    for args, code, words in cases:
        res = runner.invoke(app, args)
        text = " ".join(res.output.split())
        assert res.exit_code == code and words in text, (args, res.output)
        assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
