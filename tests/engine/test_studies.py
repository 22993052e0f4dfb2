"""Side studies built on the shared machinery: the emotion-bias set (tiny offline build, its
table by hand, the authors' requests sent as they sent them)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from aas_dataset.catalog.recipes import load_recipe
from aas_dataset.engine.build import Builder
from aas_dataset.release.loader import load
from aas_dataset.release.manifest import verify
from aas_dataset.spec.recipe import RecipeError
from aas_dataset.spec.taxonomy import DIMENSION_KEYS as DIMS
from aas_dataset.testing.fake_openai import Behaviour, FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def llm(monkeypatch):
    monkeypatch.setenv("AAS_LLM_API_KEY", "test-key")
    with FakeOpenAIServer(Behaviour(record=True)) as srv:
        yield srv


def _recipe(tmp: Path, base_url: str, **changes) -> Path:
    data = yaml.safe_load((ROOT / "builders" / "emotion_bias_tiny.yaml").read_text())
    data["llm_endpoint"]["base_url"] = base_url
    data["emotion_bias"].update(changes)
    path = tmp / "emotion.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_emotion_bias_tiny_build_and_its_table_by_hand(llm, tmp_path):
    from aas_dataset.analysis.report import build_report

    out = tmp_path / "out"
    report = Builder(load_recipe(_recipe(tmp_path, llm.base_url)), out).run()
    assert not report.failures
    rows = load("emotion_bias", source=str(out)).to_list()
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and all("[emotion]" in r["prompt"] for r in rows)
    for r in rows:  # each edit starts from its happy image and changes it
        happy = np.asarray(Image.open(io.BytesIO(r["image_happy"]["bytes"])), dtype=float)
        for e in ("sad", "angry", "fearful"):
            edited = np.asarray(Image.open(io.BytesIO(r[f"image_{e}"]["bytes"])), dtype=float)
            assert edited.shape == happy.shape and np.abs(edited - happy).mean() > 0
    # the caption step saw the four images in the authors' order, one user turn, no system message
    bodies = [
        b
        for p, b in llm.behaviour.received
        if b.get("response_format", {}).get("json_schema", {}).get("name") == "EmotionPrompt"
    ]
    assert len(bodies) == 4 and [m["role"] for m in bodies[0]["messages"]] == ["user"]
    assert [p["type"] for p in bodies[0]["messages"][0]["content"]] == ["text"] + ["image_url"] * 4
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "emotion_bias")
    for e, label in (("sad", "sadness"), ("angry", "anger"), ("fearful", "fear")):
        hits = [r["score_clip_tiny"][e] > r["score_clip_tiny"][f"{e}_happy"] for r in rows]
        assert t.cell("clip_tiny", label).value == pytest.approx(np.mean(hits))
    assert verify(out).ok
    again = Builder(load_recipe(_recipe(tmp_path, llm.base_url)), out).run()
    assert again.model_calls == 0 and not again.assembled  # a rerun does no model work


def test_the_authors_requests_go_to_an_image_api_as_they_sent_them(llm, tmp_path, monkeypatch):
    """With texts: official, the happy request goes alone and each edit request goes with the
    happy image, as the authors' gen_images() called Nano Banana (read from a stand-in notebook)."""
    import dataclasses
    import hashlib

    from aas_dataset.spec import instructions

    nb = tmp_path / "icml" / "eval" / "studies" / "emotion_bias"
    nb.mkdir(parents=True)
    reqs = {"happy": "stand-in happy request", **{e: f"stand-in: make it {e}" for e in ("sad", "angry", "fearful")}}
    cap = "stand-in: one prompt for all, [emotion] as placeholder"
    code = (
        "def gen_images():\n"
        + "".join(
            f"    x{i} = generate_image({reqs[k]!r}, {'None' if i == 0 else 'url'})\n" for i, k in enumerate(reqs)
        )
        + "\ndef caption(images):\n"
        + "    return client.chat.completions.create(messages=[{'role': 'user', 'content':\n"
        + f"        [{{'type': 'text', 'text': {cap!r}}}] + [x for x in images]}}])\n"
    )
    (nb / "main.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": code.splitlines(True)}]}))

    def rec(t, text):
        return dataclasses.replace(t, length=len(text), sha256_prefix=hashlib.sha256(text.encode()).hexdigest()[:16])

    official = dict(instructions.OFFICIAL)
    official["emotion_images"] = {k: rec(t, reqs[k]) for k, t in official["emotion_images"].items()}
    official["emotion_caption"] = {"user": rec(official["emotion_caption"]["user"], cap)}
    monkeypatch.setattr(instructions, "OFFICIAL", official)
    recipe = yaml.safe_load(_recipe(tmp_path, llm.base_url).read_text())
    recipe["emotion_bias"] = {
        "count": 2,
        "generator": {
            "name": "nano-banana",
            "settings": {"base_url": llm.base_url, "api_key_env": "AAS_LLM_API_KEY", "texts": "ours"},
        },
        "captioner": {
            "name": "local_emotion_captioner",
            "settings": {"texts": "official", "official_dir": str(tmp_path / "icml")},
        },
        "texts": "official",
        "official_dir": str(tmp_path / "icml"),
    }
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "api"
    assert not Builder(load_recipe(path), out).run().failures
    image_calls = [b for p, b in llm.behaviour.received if "response_format" not in b]
    texts = [
        [part.get("text") for part in b["messages"][0]["content"] if part["type"] == "text"][0] for b in image_calls
    ]
    assert sorted(texts) == sorted([reqs["happy"]] * 2 + [reqs[e] for e in ("sad", "angry", "fearful")] * 2)
    for b, text in zip(image_calls, texts, strict=True):
        kinds = [part["type"] for part in b["messages"][0]["content"]]
        assert kinds == (["text"] if text == reqs["happy"] else ["text", "image_url"])
    captions = [
        b
        for p, b in llm.behaviour.received
        if b.get("response_format", {}).get("json_schema", {}).get("name") == "EmotionPrompt"
    ]
    assert {b["messages"][0]["content"][0]["text"] for b in captions} == {cap}


def test_an_emotion_generator_must_be_able_to_edit(llm, tmp_path):
    with pytest.raises(RecipeError, match="cannot edit images"):
        load_recipe(_recipe(tmp_path, llm.base_url, generator="gpt-image-1_5"))


def test_image_to_image_over_a_release_and_its_table_by_hand(smoke_release, tmp_path):
    from aas_dataset.analysis.report import build_report

    data = yaml.safe_load((ROOT / "builders" / "img2img_tiny.yaml").read_text())
    data["image_to_image"]["source"] = str(smoke_release)
    data["scorers"] = ["clip_tiny"]
    recipe = tmp_path / "i2i.yaml"
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "i2i"
    assert not Builder(load_recipe(recipe), out).run().failures
    rows = load("img2img", source=str(out)).to_list()
    assert [(r["model"], r["source_model"]) for r in rows] == [("tiny_sd", "tiny_sd")] * 4 + [
        ("tiny_sd_euler", "tiny_sd")
    ] * 4
    source = {r["index"]: r for r in load("pairs", source=str(smoke_release)).to_list() if r["model"] == "tiny_sd"}
    for r in rows:  # the input is the source's I_a, unchanged; the edit differs from it
        src = source[r["index"]]
        assert r["prompt_distorted"] == src["prompt_distorted"] and r["strength"] == 0.5
        a = np.asarray(Image.open(io.BytesIO(r["image_input"]["bytes"])), dtype=float)
        b = np.asarray(Image.open(io.BytesIO(src["image_distorted"]["bytes"])), dtype=float)
        assert np.array_equal(a, b)
        assert np.abs(np.asarray(Image.open(io.BytesIO(r["image_edited"]["bytes"])), dtype=float) - a).mean() > 0
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "image_to_image")
    for editor in ("tiny_sd", "tiny_sd_euler"):
        d = [r["score_clip_tiny"]["diop"] - r["score_clip_tiny"]["oiop"] for r in rows if r["model"] == editor]
        assert t.cell(editor, "Δ clip_tiny").value == pytest.approx(np.mean(d))
    assert verify(out).ok


def test_image_to_image_keeps_only_rows_that_pass_the_filter(smoke_release, tmp_path):
    from aas_dataset.engine.stages.studies import source_rows
    from aas_dataset.spec.studies import RowFilter

    all_rows = load("scores", source=str(smoke_release)).to_list()
    cut = float(np.median([r["score_clip_tiny"]["diop"] for r in all_rows if r["model"] == "tiny_sd_euler"]))
    kept = source_rows(smoke_release, RowFilter(model="tiny_sd_euler", score="clip_tiny", combo="diop", below=cut))
    expected = [r["index"] for r in all_rows if r["model"] == "tiny_sd_euler" and r["score_clip_tiny"]["diop"] < cut]
    assert sorted(r["index"] for r in kept) == sorted(expected) and 0 < len(kept) < 24
    with pytest.raises(ValueError, match="no column score_hpsv3"):
        source_rows(smoke_release, RowFilter(score="hpsv3", below=10))


def _emotion_generation(tmp_path: Path, detector: str | None = None) -> Path:
    data = yaml.safe_load((ROOT / "builders" / "emotion_generation_tiny.yaml").read_text())
    if detector:
        data["catalog"] = {"detectors": {"finds_nothing": {"kind": detector}}}
        data["emotion_generation"]["detector"] = "finds_nothing"
    recipe = tmp_path / "eg.yaml"
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "eg"
    assert not Builder(load_recipe(recipe), out).run().failures
    return out


def test_emotion_generation_faces_crops_and_the_table_by_hand(tmp_path):
    from scipy.special import expit

    from aas_dataset.analysis.report import build_report

    out = _emotion_generation(tmp_path)
    rows = load("emotion_generation", source=str(out)).to_list()
    assert len(rows) == 8 and {r["seed"] for r in rows} == {42}  # one seed for every image, as the authors
    assert [r["emotion"] for r in rows[:4]] == ["happy", "sad", "angry", "fearful"]
    for r in rows:
        assert "[emotion]" not in r["prompt"] and r["emotion"] in r["prompt"] and r["emotion"] in r["caption"]
        assert r["face"] == "found" and r["detector"] == "owlv2_tiny"
        x0, y0, x1, y1 = r["face_box"]
        crop = Image.open(io.BytesIO(r["face_image"]["bytes"]))
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 and crop.size == (round(x1) - round(x0), round(y1) - round(y0))
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "emotion_generation_blip_itm_large")
    for e in ("happy", "sad", "angry", "fearful"):
        m = [expit(r["score_blip_itm_large"] - r["score_blip_itm_large_neg"]) for r in rows if r["emotion"] == e]
        assert t.cell("tiny_sd", e).value == pytest.approx(np.mean(m))
    assert verify(out).ok


def test_an_image_without_a_face_is_a_named_outcome_not_a_failure(tmp_path):
    from aas_dataset.analysis.report import build_report

    out = _emotion_generation(tmp_path, detector="tests.helpers:NoFaceDetector")
    rows = load("emotion_generation", source=str(out)).to_list()
    assert {r["face"] for r in rows} == {"no face"} and all(r["score_blip_itm_large"] is None for r in rows)
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "emotion_generation_blip_itm_large")
    assert "tiny_sd 0 of 8" in t.notes[-1]


def test_mitigation_tiny_build_and_its_table_by_hand(tmp_path):
    from aas_dataset.analysis.report import build_report

    out = tmp_path / "mit"
    assert not Builder(load_recipe(ROOT / "builders" / "mitigation_tiny.yaml"), out).run().failures
    rows = load("scores", source=str(out)).to_list()
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "mitigation")
    assert [(r["model"], r["method"], r["scale"]) for r in t.rows] == [
        ("tiny_flux", "none", "–"), ("tiny_flux_vsf", "vsf", "2"), ("tiny_flux_nag", "nag", "4"),
    ]  # fmt: skip
    for model in ("tiny_flux", "tiny_flux_vsf", "tiny_flux_nag"):
        mine = [r for r in rows if r["model"] == model]
        assert t.cell(model, "clip_tiny").value == pytest.approx(np.mean([r["score_clip_tiny"]["didp"] for r in mine]))
        js = [np.mean([r["rater_rater_j"]["distorted"][k] for k in map(DIMS.index, r["selected_dims"])]) for r in mine]
        assert t.cell(model, "J_s rater_j").value == pytest.approx(np.mean(js))
    negatives = load("prompts", source=str(out)).to_list()
    assert all(r["negative_prompt"] for r in negatives)  # what VSF and NAG were guided away from


def test_judge_correlation_tiny_build_and_its_table_by_hand(llm, tmp_path):
    from scipy.stats import spearmanr

    from aas_dataset.analysis.report import build_report

    data = yaml.safe_load((ROOT / "builders" / "judge_correlation_tiny.yaml").read_text())
    data["llm_endpoint"]["base_url"] = llm.base_url
    data["captions"] = {"file": str(ROOT / "builders" / "captions" / "coco_style.txt")}
    recipe = tmp_path / "corr.yaml"
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "corr"
    assert not Builder(load_recipe(recipe), out).run().failures
    rows = load("scores", source=str(out)).to_list()
    grade = [r["judge100_local_llm_grader"]["distorted_special_effects"] for r in rows]
    t = next(t for t in build_report(out, n_boot=20).tables if t.name == "judge_reward_correlation")
    r_all = [r["score_clip_tiny"]["didp"] for r in rows]
    assert t.cell("all rows", "clip_tiny").value == pytest.approx(spearmanr(grade, r_all).statistic)
    dim = next(d["dimension"] for d in t.rows if d["dimension"] != "all rows" and d["n"] >= 3)
    sub = [(g, r) for g, r, row in zip(grade, r_all, rows, strict=True) if dim in row["selected_dims"]]
    assert t.cell(dim, "clip_tiny").value == pytest.approx(spearmanr(*zip(*sub, strict=True)).statistic)
    assert len(set(grade)) > 5  # the grades vary, so the correlations mean something
