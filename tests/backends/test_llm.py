"""LLM stages against the loopback fake server: labels, faults, retries, cache, secrets."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from aas_dataset import catalog
from aas_dataset.backends.base import JudgeItem
from aas_dataset.catalog.recipes import load_recipe
from aas_dataset.cli import app
from aas_dataset.engine.build import Builder
from aas_dataset.testing.fake_openai import Behaviour, FakeOpenAIServer

from ..helpers import ROOT, mini_recipe

KEY = "sk-SENTINEL-llm-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("AAS_LLM_API_KEY", KEY)


def _png(v: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (v, v, v)).save(buf, format="PNG")
    return buf.getvalue()


def _item(o: int, a: int) -> JudgeItem:
    po, pa = _png(o), _png(a)
    return JudgeItem("a cat", "a dark cat", ("color brightness",), po, pa)


def _judge(name, base_url, tmp_path=None, **settings):
    j = catalog.resolve("judge", name, {"base_url": base_url, **settings}).instantiate()
    j.cache_dir = tmp_path
    j.load()
    return j


def test_pairwise_order_is_randomised_and_mapped_back():
    with FakeOpenAIServer() as srv:
        j = _judge("local_llm_judge", srv.base_url)
        items = [_item(200 + i, i) for i in range(24)]  # I_a darker: the fake picks it
        verdicts = j.judge(items)
        assert [v.label for v in verdicts] == [1] * 24
        assert {v.detail["shown_first"] for v in verdicts} == {"original", "distorted"}
        assert [v.label for v in j.judge([_item(5, 250), _item(7, 7)])] == [0, -1]
        # the order is a fixed function of the pair: judging again shows the same order
        assert [v.detail["shown_first"] for v in j.judge(items)] == [v.detail["shown_first"] for v in verdicts]


def test_retries_are_bounded_and_the_last_error_recorded():
    with FakeOpenAIServer(Behaviour(fault_rate=1.0, faults=("500",))) as srv:
        j = _judge("local_llm_judge", srv.base_url, max_attempts=3, backoff_base_s=0.001)
        out = j.judge([_item(200, 0), _item(190, 10)])
        assert all(isinstance(v, Exception) and "HTTP 500" in str(v) for v in out)
        assert srv.behaviour.requests == 6


@pytest.mark.parametrize("fault", ["429", "timeout", "malformed", "schema", "refusal", "slow"])
def test_each_fault_kind_is_survived(fault):
    b = Behaviour(fault_rate=0.5, faults=(fault,), timeout_sleep_s=0.6, retry_after_s=0.01, latency_s=0.01, seed=3)
    with FakeOpenAIServer(b) as srv:
        j = _judge(
            "local_llm_judge", srv.base_url, max_attempts=12, timeout_s=0.3, backoff_base_s=0.001, backoff_max_s=0.02
        )
        out = j.judge([_item(200 + i, i) for i in range(12)])
        assert [getattr(v, "label", v) for v in out] == [1] * 12
        assert srv.behaviour.faults_injected.get(fault, 0) > 0
        retried = 0 if fault == "slow" else srv.behaviour.faults_injected[fault]  # slow: late but valid
        assert srv.behaviour.requests == 12 + retried


def test_absolute_judge_grades_both_images():
    with FakeOpenAIServer() as srv:
        j = _judge("local_llm_grader", srv.base_url)
        (v,) = j.judge([_item(250, 5)])
        assert v.label is None
        assert (
            v.scores["original_main_concepts"] == 60
            and v.scores["distorted_special_effects"] > v.scores["original_special_effects"]
        )


def _chat_bodies(srv) -> list[dict]:
    return [body for path, body in srv.behaviour.received if path.endswith("/chat/completions")]


def test_the_paper_judges_send_the_authors_texts(authors_dir):
    """The catalog's paper judges default to the authors' instruction (read from their file)."""
    with FakeOpenAIServer(Behaviour(record=True)) as srv:
        kw = {"api_key_env": "AAS_LLM_API_KEY", "official_dir": str(authors_dir)}
        j = _judge("qwen3_vl_235b_deepinfra", srv.base_url, **kw)
        items = [_item(200, 10), _item(10, 200)]
        verdicts = j.judge(items)
        assert [v.label for v in verdicts] == [1, 0]  # the fake picks the darker image, in either order
        bodies = _chat_bodies(srv)
        assert len(bodies) == 2
        from aas_dataset.backends.llm.client import image_data_url

        def shown(it, v):  # the pair in the order its verdict says it was shown
            pair = (it.original_png, it.distorted_png)
            return tuple(image_data_url(p) for p in (pair[::-1] if v.detail["shown_first"] == "distorted" else pair))

        sent = {tuple(part["image_url"]["url"] for part in b["messages"][1]["content"][1:]) for b in bodies}
        assert sent == {shown(it, v) for it, v in zip(items, verdicts, strict=True)}
        for body in bodies:
            system, user = body["messages"]
            assert system == {"role": "system", "content": "Stand-in system line for the pairwise judge."}
            text, first, second = user["content"]  # the authors' order: the text, then the two images
            assert first["type"] == second["type"] == "image_url"
            assert (
                text["text"] == 'Stand-in judge text with a literal {"selection": <int>} example. Prompt:\na dark cat'
            )
            assert body["response_format"]["json_schema"]["name"] == "PreferenceSelection"
            assert body["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
            assert body["temperature"] == 0.3
        srv.behaviour.received.clear()
        g = _judge("gemini25_flash_openrouter", srv.base_url, **kw)
        (v,) = g.judge([_item(200, 10)])
        assert v.scores["distorted_special_effects"] > v.scores["original_special_effects"]
        bodies = _chat_bodies(srv)
        assert [b["messages"][1]["content"][0]["text"] for b in bodies] == [
            "Original:\na cat\n\nDistorted:\na dark cat\n\nGrade it."
        ] * 2
        assert [b["response_format"]["json_schema"]["name"] for b in bodies] == ["JudgeResponse"] * 2


def test_the_paper_rewriter_sends_the_authors_instruction_and_effects(authors_dir, tmp_path):
    from datasets import load_dataset

    from ..helpers import authors_effects

    with FakeOpenAIServer(Behaviour(record=True)) as srv:
        recipe = mini_recipe(
            tmp_path / "r.yaml",
            n=3,
            llm_endpoint={"base_url": srv.base_url, "api_key_env": "AAS_LLM_API_KEY"},
            rewriter={"name": "qwen3_vl_235b_openrouter", "settings": {"official_dir": str(authors_dir)}},
        )
        out = tmp_path / "out"
        assert not Builder(load_recipe(recipe), out).run().failures
        prompts = load_dataset(str(out), "prompts", split="test")
        effects = authors_effects()
        sent = {b["messages"][1]["content"]: b for b in _chat_bodies(srv)}
        for r in prompts:
            given = "\n".join(effects[d] for d in r["selected_dims"])  # in the order drawn
            assert r["effects"] == given  # the column holds what the rewriter was given
            body = sent[f"Rewrite {r['prompt_original']} so that it shows {given}. Stand-in."]
            assert body["messages"][0] == {"role": "system", "content": "Stand-in rewriter system line."}
            assert body["temperature"] == 0.1
            assert body["response_format"]["json_schema"]["name"] == "Prompts"
        # a changed official text is a new rewriter: every prompt unit is new
        m1 = json.loads((out / "MANIFEST.json").read_text())["recipe"]["rewriter"]
        ours = load_recipe(mini_recipe(tmp_path / "r2.yaml", n=3, rewriter="local_openai_chat")).rewriter.spec
        assert m1["texts"][0]["source"].startswith("weathon/AAS@51fa409:ds.py")
        assert ours["texts"][0]["source"] == "ours"


def test_nano_banana_sends_the_authors_message_and_nothing_more(authors_dir):
    with FakeOpenAIServer(Behaviour(record=True)) as srv:
        g = catalog.resolve(
            "generator",
            "nano-banana",
            {"base_url": srv.base_url, "api_key_env": "AAS_LLM_API_KEY", "official_dir": str(authors_dir)},
        ).instantiate()
        g.load()
        (im,) = g.generate(["a dark alley"], [0])
        assert im.size == (32, 32)
        (body,) = _chat_bodies(srv)
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Stand-in request for: a dark alley"}]}
        ]
        assert "modalities" not in body and "image_config" not in body and "response_format" not in body


def test_replicate_qwen_image_sends_negatives_per_arm(monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-test")
    with FakeOpenAIServer(Behaviour(record=True)) as srv:
        g = catalog.resolve(
            "generator", "qwen_image_replicate", {"base_url": srv.base_url, "poll_interval_s": 0.01}
        ).instantiate()
        g.load()
        originals, distorted = g.generate_pairs(["a cat", "a dog"], ["a dark cat", "a dark dog"], [1, 2], [3, 4])
        assert all(not isinstance(x, BaseException) for x in originals + distorted)
        inputs = {b["input"]["prompt"]: b["input"] for p, b in srv.behaviour.received if p.endswith("/predictions")}
        assert "negative_prompt" not in inputs["a cat"] and "negative_prompt" not in inputs["a dog"]
        assert inputs["a dark cat"]["negative_prompt"] == "" and inputs["a dark dog"]["negative_prompt"] == ""
        assert inputs["a dark cat"]["seed"] == 3


def _llm_recipe(tmp_path, base_url, n=6, **changes):
    quick = {"max_attempts": 3, "backoff_base_s": 0.001, "timeout_s": 0.5}
    recipe = {
        "llm_endpoint": {"base_url": base_url},
        "rewriter": "local_openai_chat",
        "negative_writer": "local_openai_chat",
        "judges": [
            {"name": "local_llm_judge", "settings": quick},
            {"name": "local_llm_grader", "settings": quick},
            "image_stats",
        ],
        "ground_truth": "local_llm_judge",
        "scorers": ["image_stats"],
    }
    return mini_recipe(tmp_path / "r.yaml", n=n, **{**recipe, **changes})


def _brightness(png_field) -> float:
    return float(np.asarray(png_field.convert("L"), dtype=float).mean())


def test_smoke_switches_to_a_local_llm_with_one_endpoint(tmp_path):
    with FakeOpenAIServer() as srv:
        out = tmp_path / "out"
        res = CliRunner().invoke(app, ["build", str(_llm_recipe(tmp_path, srv.base_url)), "--out", str(out)])
        assert res.exit_code == 0, res.output
        sent = srv.behaviour.requests
        assert sent == 6 + 6 + 12 + 24  # rewrites, negatives, pairwise, 0-100 (two images per pair)
        from datasets import load_dataset

        prompts = load_dataset(str(out), "prompts", split="test")
        assert all(p == "sharp bright clean image" for p in prompts["negative_prompt"])
        pairs = load_dataset(str(out), "pairs", split="test")
        for r in pairs:  # the fake picks the darker image; labels must say which one that was
            darker_is_a = _brightness(r["image_distorted"]) < _brightness(r["image_original"])
            assert r["label_local_llm_judge"] == int(darker_is_a)
            assert 0 <= r["judge100_local_llm_grader"]["distorted_special_effects"] <= 100
        m = json.loads((out / "MANIFEST.json").read_text())
        assert m["recipe"]["ground_truth"] == "local_llm_judge"
        assert m["usage"]["judge"]["local_llm_judge"]["requests"] == 12
        assert m["usage"]["judge"]["local_llm_grader"]["requests"] == 24
        # rerunning the finished build sends nothing
        again = CliRunner().invoke(app, ["build", str(_llm_recipe(tmp_path, srv.base_url)), "--out", str(out)])
        assert again.exit_code == 0 and srv.behaviour.requests == sent
        # the key is nowhere: outputs, store, response cache, log
        assert KEY not in res.output + again.output
        for p in out.rglob("*"):
            if p.is_file():
                assert KEY.encode() not in p.read_bytes(), p
        assert (out / ".aas" / "store" / "cache" / "llm_cache.sqlite").is_file()


def test_thirty_percent_faults_nothing_fabricated(tmp_path):
    """30 % of requests fail, every kind of fault reaching every LLM stage; what lands in the
    release is only what the server answered, and every gap is a recorded failure."""
    from aas_dataset.testing.fake_openai import FAULTS

    b = Behaviour(fault_rate=0.3, seed=11, timeout_sleep_s=0.8, retry_after_s=0.01, cycle_faults=True)
    with FakeOpenAIServer(b) as srv:
        # two attempts for the judges: some faults outlast the retries and must become failures
        judge = {"max_attempts": 2, "backoff_base_s": 0.001, "timeout_s": 0.5}
        judges = [{"name": "local_llm_judge", "settings": judge}, {"name": "local_llm_grader", "settings": judge}]
        recipe = _llm_recipe(tmp_path, srv.base_url, n=24, judges=[*judges, "image_stats"])
        out = tmp_path / "out"
        report = Builder(load_recipe(recipe), out).run()
        stages = ("Prompts", "NegativeReply", "PreferenceSelection", "JudgeResponse")
        unreached = [(k, f) for k in stages for f in FAULTS if not b.faults_by_kind.get((k, f))]
        assert not unreached, unreached
        m = json.loads((out / "MANIFEST.json").read_text())
        for f in m["failures"]:
            assert f["reason"] and f["stage"] in ("prompts", "negatives", "judge", "score")
        assert len(m["failures"]) == len(report.failures)
        from datasets import load_dataset

        def failed(stage, backend=None):
            return {
                (f.get("model"), f["index"])
                for f in m["failures"]
                if f["stage"] == stage and (backend is None or f["backend"] == backend)
            }

        assert failed("judge", "local_llm_judge") and failed("judge", "local_llm_grader")  # both gaps exercised
        prompts = load_dataset(str(out), "prompts", split="test")
        assert prompts.num_rows == 24 - len(failed("prompts"))
        for r in prompts:  # rewrites and negative prompts are the server's answers, or absent
            assert r["prompt_distorted"].endswith(", sunk in murky darkness and smeared blur")
            assert r["negative_prompt"] in ("sharp bright clean image", None)
        failed_negatives = [f for f in m["failures"] if f["stage"] == "negatives" and f["outcome"] == "failed"]
        assert sum(r["negative_prompt"] is None for r in prompts) == len(failed_negatives)
        pairs = load_dataset(str(out), "pairs", split="test")
        for r in pairs:
            key = (r["model"], r["index"])
            label = r["label_local_llm_judge"]
            if key in failed("judge", "local_llm_judge"):
                assert label is None
            elif label is None:
                raise AssertionError(f"unlabelled without a failure: {key}: {m['failures']}")
            else:  # every label present is the one the server gave
                assert label == int(_brightness(r["image_distorted"]) < _brightness(r["image_original"]))
            grades = r["judge100_local_llm_grader"]
            if key in failed("judge", "local_llm_grader"):
                assert grades is None
            else:  # the server's grade of each image
                for side in ("original", "distorted"):
                    dark = 100 - int(_brightness(r[f"image_{side}"]) / 255 * 100)
                    assert (grades[f"{side}_main_concepts"], grades[f"{side}_special_effects"]) == (60, dark)
        info = CliRunner().invoke(app, ["info", str(out)])
        assert f"failures: {len(m['failures'])}" in info.output
        assert "usage judge local_llm_judge:" in info.output and "requests" in info.output
        # a rerun without faults resends only what failed and completes the release
        b.fault_rate = 0.0
        before = b.requests
        again = Builder(load_recipe(recipe), out).run()
        assert not again.failures
        retried = sum(s.failed for s in report.stats) + sum(s.blocked for s in report.stats)
        assert 0 < b.requests - before <= 2 * retried * 1  # 0-100 judge: two requests per pair
        assert json.loads((out / "MANIFEST.json").read_text())["failures"] == []


@pytest.mark.slow
def test_crash_then_rerun_resends_only_missing_requests(tmp_path):
    b = Behaviour(latency_s=0.05)
    with FakeOpenAIServer(b) as srv:
        recipe = mini_recipe(
            tmp_path / "r.yaml",
            n=12,
            generators=["tiny_sd"],
            scorers=[],
            judges=[{"name": "local_llm_judge", "settings": {"base_url": srv.base_url, "concurrency": 2}}],
        )
        out = tmp_path / "out"
        env = {**__import__("os").environ, "AAS_LLM_API_KEY": KEY}
        proc = subprocess.Popen(
            [sys.executable, "-m", "aas_dataset", "build", str(recipe), "--out", str(out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while b.requests < 5 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = b.requests
        assert 5 <= first < 12
        cached = (
            sqlite3.connect(out / ".aas" / "store" / "cache" / "llm_cache.sqlite")
            .execute("SELECT COUNT(*) FROM replies")
            .fetchone()[0]
        )
        Builder(load_recipe(recipe), out).run()
        assert b.requests - first == 12 - cached  # only what had no stored reply
        assert cached >= first - 2  # at most the in-flight requests were lost (concurrency 2)


def _batch_judge(srv, tmp_path, **settings):
    return _judge("local_llm_judge", srv.base_url, tmp_path, batch_api=True, batch_poll_s=0.01, **settings)


def test_batch_api_mode_answers_and_caches(tmp_path):
    with FakeOpenAIServer(Behaviour(batch_polls=3)) as srv:
        j = _batch_judge(srv, tmp_path)
        items = [_item(200 + i, i) for i in range(10)] + [_item(3, 240)]
        out = j.judge(items)
        assert [v.label for v in out] == [1] * 10 + [0]
        assert srv.behaviour.batches_created == 1
        assert j.judge(items)[0].label == 1 and srv.behaviour.batches_created == 1  # from the cache


def test_batch_api_resubmits_only_failed_lines(tmp_path):
    b = Behaviour(fault_rate=0.4, faults=("500", "timeout", "schema", "refusal"), seed=5)
    with FakeOpenAIServer(b) as srv:
        j = _batch_judge(srv, tmp_path, max_attempts=8)
        out = j.judge([_item(200 + i, i) for i in range(20)])
        assert [getattr(v, "label", None) for v in out] == [1] * 20
        lines = sum(len(srv.behaviour.files[bt["input_file_id"]].splitlines()) for bt in srv.behaviour.batches.values())
        failed_lines = sum(srv.behaviour.faults_injected.values())
        assert srv.behaviour.batches_created > 1 and lines == 20 + failed_lines  # nothing sent twice that had succeeded


def test_batch_api_resumes_a_job_after_a_crash(tmp_path, monkeypatch):
    import aas_dataset.backends.llm.batch as lb

    with FakeOpenAIServer(Behaviour(batch_polls=2)) as srv:
        items = [_item(200 + i, i) for i in range(6)]
        j = _batch_judge(srv, tmp_path)
        real_poll = lb._poll

        def crash(*a, **k):
            raise KeyboardInterrupt("process killed while polling")

        monkeypatch.setattr(lb, "_poll", crash)
        with pytest.raises(KeyboardInterrupt):
            j.client.run(j.requests(items)[0])
        assert srv.behaviour.batches_created == 1
        monkeypatch.setattr(lb, "_poll", real_poll)
        j2 = _batch_judge(srv, tmp_path)  # a new process: same cache folder
        out = j2.judge(items)
        assert [v.label for v in out] == [1] * 6
        assert srv.behaviour.batches_created == 1  # the job in flight was polled, not paid for again


@pytest.mark.parametrize("entry", ["nano-banana", "gpt-image-mini"])
def test_api_generators_record_failures_and_no_seeds(tmp_path, entry):
    texts = {"texts": "ours"} if entry == "nano-banana" else {}
    b = Behaviour(fault_rate=0.3, faults=("500", "schema"), seed=2)
    with FakeOpenAIServer(b) as srv:
        recipe = mini_recipe(
            tmp_path / "r.yaml",
            n=6,
            llm_endpoint={"base_url": srv.base_url, "api_key_env": "AAS_LLM_API_KEY"},
            # one attempt: an injected fault outlasts the retries and must become a recorded failure
            generators=[{"name": entry, "settings": {"max_attempts": 1, **texts}}],
            judges=["image_stats"],
            scorers=["image_stats"],
        )
        out = tmp_path / "out"
        report = Builder(load_recipe(recipe), out).run()
        gen = {s.stage: s for s in report.stats}["generate"]
        assert gen.ok + gen.failed == 6 and gen.ok > 0 and gen.failed > 0
        from datasets import load_dataset

        pairs = load_dataset(str(out), "pairs", split="test")
        assert pairs.num_rows == gen.ok
        for r in pairs:  # API models take no seed: none is recorded
            assert r["seed_original"] is None and r["seed_distorted"] is None
            assert r["image_original"].size == (32, 32)
        m = json.loads((out / "MANIFEST.json").read_text())
        generate_failures = [f for f in m["failures"] if f["stage"] == "generate"]
        assert len(generate_failures) == gen.failed
        for f in generate_failures:  # a pair fails with the fault of either image, as the server gave it
            assert "HTTP 500" in f["reason"] or "no image in the reply" in f["reason"], f["reason"]
        assert KEY.encode() not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_retired_image_model_ids_are_refused(tmp_path):
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        n=2,
        catalog={
            "generators": {
                "old": {
                    "kind": "openai_images",
                    "model_id": "gpt-image-1",
                    "settings": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "AAS_LLM_API_KEY"},
                }
            }
        },
        generators=["old"],
        judges=[],
        scorers=[],
    )
    report = Builder(load_recipe(recipe), tmp_path / "out").run()
    reasons = {f["reason"] for f in report.failures if f["stage"] == "generate"}
    assert len(reasons) == 1 and "is retired" in reasons.pop()


def _replicate_recipe(tmp_path, srv, n=6, **settings):
    return mini_recipe(
        tmp_path / "r.yaml",
        n=n,
        catalog={
            "generators": {
                "seedream": {
                    "kind": "replicate",
                    "model_id": "bytedance/seedream-4",
                    "settings": {
                        "base_url": srv.base_url,
                        "api_key_env": "AAS_LLM_API_KEY",
                        "input": {"size": "1K", "aspect_ratio": "1:1", "max_images": 1},
                        "poll_interval_s": 0.01,
                        "max_attempts": 3,
                        "backoff_base_s": 0.001,
                        **settings,
                    },
                }
            }
        },
        generators=["seedream"],
        judges=[],
        scorers=[],
    )


def test_replicate_create_poll_download_with_failures_recorded(tmp_path):
    b = Behaviour(fault_rate=0.35, faults=("429", "refusal", "malformed"), seed=4, batch_polls=2)
    with FakeOpenAIServer(b) as srv:
        out = tmp_path / "out"
        report = Builder(load_recipe(_replicate_recipe(tmp_path, srv)), out).run()
        gen = {s.stage: s for s in report.stats}["generate"]
        assert gen.ok + gen.failed == 6 and gen.ok > 0 and gen.failed > 0 and gen.failed > 0
        reasons = [f["reason"] for f in report.failures if f["stage"] == "generate"]
        assert all("content flagged" in r or "without an output image" in r for r in reasons), reasons
        # the model's input fields went out with the prompt; the token went in the header only
        sent = [p["input"] for p in b.predictions.values()]
        assert all(i["size"] == "1K" and i["max_images"] == 1 and i["prompt"] for i in sent)
        assert f"Bearer {KEY}" in b.auth_headers
        from datasets import load_dataset

        pairs = load_dataset(str(out), "pairs", split="test")
        assert pairs.num_rows == gen.ok
        assert all(r["seed_original"] is None for r in pairs)  # seedream takes no seed


def test_replicate_seed_field_is_sent_and_recorded(tmp_path):
    with FakeOpenAIServer(Behaviour()) as srv:
        out = tmp_path / "out"
        report = Builder(load_recipe(_replicate_recipe(tmp_path, srv, n=2, seed_field="seed")), out).run()
        assert not report.failures
        seeds = sorted(p["input"]["seed"] for p in srv.behaviour.predictions.values())
        from datasets import load_dataset

        pairs = load_dataset(str(out), "pairs", split="test")
        assert sorted(s for r in pairs for s in (r["seed_original"], r["seed_distorted"])) == seeds
