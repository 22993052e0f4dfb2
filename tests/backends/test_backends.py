"""Backends on their real classes with tiny weights, and the OpenAI-compatible rewriter
against a loopback server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from aas_dataset import catalog
from aas_dataset.backends.base import JudgeItem
from aas_dataset.backends.image_stats import image_statistics
from aas_dataset.cli import app

from ..helpers import mini_recipe


def _backend(role, name, **settings):
    b = catalog.resolve(role, name, settings).instantiate()
    b.load()
    return b


def _pattern(seed=0, size=64):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_tiny_generator_is_the_real_pipeline_and_seeded():
    from diffusers import StableDiffusionPipeline

    g = _backend("generator", "tiny_sd")
    assert isinstance(g.pipe, StableDiffusionPipeline)
    a = g.generate(["a cat", "a dog", "a bird"], [1, 2, 3])
    b = g.generate(["a dog"], [2])
    assert [im.size for im in a] == [(64, 64)] * 3
    assert a[1].tobytes() == b[0].tobytes()  # batch position and size do not matter
    c = g.generate(["a dog"], [99])
    assert c[0].tobytes() != b[0].tobytes()
    d = g.generate(["a dark dog, blurred"], [2])
    assert d[0].tobytes() != b[0].tobytes()  # the prompt reaches the pixels


def test_tiny_generator_weights_come_from_weights_seed():
    a = _backend("generator", "tiny_sd").generate(["x"], [5])[0]
    b = _backend("generator", "tiny_sd", weights_seed=7).generate(["x"], [5])[0]
    assert a.tobytes() != b.tobytes()


def test_clip_scorer_batched_equals_one_by_one():
    from transformers import CLIPModel

    s = _backend("scorer", "clip_tiny")
    assert isinstance(s.model, CLIPModel)
    images = [_pattern(i) for i in range(4)]
    prompts = ["a cat", "a very dark and blurry dog", "x", "a red bus on a street"]
    batched = s.score(images, prompts)
    single = np.array([s.score([im], [p])[0] for im, p in zip(images, prompts, strict=False)])
    assert batched.shape == (4,)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.all(np.abs(batched) <= 1.0 + 1e-6)  # cosine


def test_image_stats_move_the_expected_way():
    sharp = _pattern(1)
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    dark = Image.fromarray((np.asarray(sharp) * 0.2).astype(np.uint8))
    grey = sharp.convert("L").convert("RGB")
    s, b, d, g = map(image_statistics, (sharp, blurred, dark, grey))
    assert b["sharpness"] < s["sharpness"] / 5
    assert d["brightness"] < s["brightness"] * 0.3
    assert d["contrast"] < s["contrast"]
    assert g["saturation"] == 0.0 and g["colorfulness"] == pytest.approx(0.0, abs=1e-9)
    white = image_statistics(Image.new("RGB", (8, 8), (255, 255, 255)))
    assert white["brightness"] == pytest.approx(1.0) and white["sharpness"] == 0.0


def test_image_stats_judge_labels():
    j = _backend("judge", "image_stats")
    sharp = _pattern(2)
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    items = [
        JudgeItem.from_images(sharp, blurred, "p", "p blurred", ("clarity",)),
        JudgeItem.from_images(blurred, sharp, "p", "p blurred", ("clarity", "emotion")),
        JudgeItem.from_images(sharp, blurred, "p", "p sad", ("emotion", "richness")),
    ]
    labels = [v.label for v in j.judge(items)]
    assert labels == [1, 0, -1]


def test_unknown_kind_is_a_clear_error(tmp_path):
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.spec.recipe import RecipeError

    r = mini_recipe(tmp_path / "r.yaml", catalog={"generators": {"x": {"kind": "warp_drive"}}}, generators=["x"])
    with pytest.raises(RecipeError, match="no generator backend of kind 'warp_drive'"):
        load_recipe(r)


# --- OpenAI-compatible rewriter on loopback ----------------------------------------------

SENTINEL = "sk-SENTINEL-0123456789abcdef"


@pytest.fixture
def chat_server():
    from aas_dataset.testing.fake_openai import Behaviour, FakeOpenAIServer

    with FakeOpenAIServer(Behaviour()) as srv:
        yield srv


def test_openai_chat_rewriter_on_loopback(chat_server, tmp_path, monkeypatch):
    monkeypatch.setenv("AAS_LLM_API_KEY", SENTINEL)
    captions = ["A cat on a mat.", "A ALWAYS_REFUSE reply here.", "A dog in the snow."]
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        captions={"inline": captions},
        rewriter={"name": "local_openai_chat", "settings": {"base_url": chat_server.base_url, "max_attempts": 2}},
        generators=["tiny_sd"],
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["build", str(recipe), "--out", str(out), "--allow-failures"])
    assert res.exit_code == 0, res.output
    assert chat_server.behaviour.auth_headers == {f"Bearer {SENTINEL}"}
    assert chat_server.behaviour.requests == 2 + 2  # two good captions, the refused one twice

    from datasets import load_dataset

    prompts = load_dataset(str(out), "prompts", split="test")
    assert sorted(prompts["index"]) == [0, 2]  # the refused caption produced no prompt
    assert all("murky darkness" in p for p in prompts["prompt_distorted"])
    m = json.loads((out / "MANIFEST.json").read_text())
    fail = [f for f in m["failures"] if f["stage"] == "prompts"]
    assert fail[0]["index"] == 1 and "refused" in fail[0]["reason"]
    # MANIFEST records what decides outputs; the endpoint and its key variable are transport
    assert (
        "api_key_env" not in m["recipe"]["rewriter"]["settings"]
        and "base_url" not in m["recipe"]["rewriter"]["settings"]
    )
    assert m["usage"]["prompts"]["local_openai_chat"]["requests"] == 2

    # the key never reaches an output file, the store, the cache or the log
    assert SENTINEL not in res.output
    for p in out.rglob("*"):
        if p.is_file():
            assert SENTINEL.encode() not in p.read_bytes(), p


def test_openai_chat_rewriter_needs_its_key(chat_server, tmp_path, monkeypatch):
    monkeypatch.delenv("AAS_LLM_API_KEY", raising=False)
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        n=2,
        rewriter={"name": "local_openai_chat", "settings": {"base_url": chat_server.base_url}},
        generators=["tiny_sd"],
        scorers=[],
        judges=[],
    )
    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder

    report = Builder(load_recipe(recipe), tmp_path / "o").run()
    reasons = {f["reason"] for f in report.failures if f["stage"] == "prompts"}
    assert reasons == {
        "could not load rewriter 'local_openai_chat': RuntimeError: OpenAIChatRewriter 'local_openai_chat': "
        "environment variable AAS_LLM_API_KEY is not set"
    }


def test_diffusers_kind_loads_a_saved_pipeline_like_a_hub_checkpoint(tmp_path):
    """The real-weight path (`from_pretrained`) on a local copy of the tiny pipeline gives the
    same pixels as the tiny backend: only the catalog entry differs."""
    tiny = _backend("generator", "tiny_sd")
    tiny.pipe.save_pretrained(tmp_path / "ckpt")
    from aas_dataset.spec.recipe import Entry

    entry = Entry(
        kind="diffusers",
        model_id=str(tmp_path / "ckpt"),
        settings={
            "pipeline": "StableDiffusionPipeline",
            "dtype": "float32",
            "device": "cpu",
            "steps": 4,
            "guidance": 5.0,
            "width": 64,
            "height": 64,
        },
    )
    real = catalog.resolve("generator", "saved", extra={"saved": entry}).instantiate()
    real.load()
    a = tiny.generate(["a cat on a mat", "a dark cat"], [11, 12])
    b = real.generate(["a cat on a mat", "a dark cat"], [11, 12])
    assert [x.tobytes() for x in a] == [x.tobytes() for x in b]


def test_diffusers_kind_rejects_unknown_pipeline(tmp_path):
    from aas_dataset.spec.recipe import Entry

    entry = Entry(
        kind="diffusers",
        model_id="x",
        settings={"pipeline": "NoSuchPipeline", "steps": 1, "guidance": 1, "width": 64, "height": 64},
    )
    g = catalog.resolve("generator", "bad", extra={"bad": entry}).instantiate()
    with pytest.raises(RuntimeError, match="diffusers has no pipeline 'NoSuchPipeline'"):
        g.load()


def test_pickscore_is_logit_scaled_cosine():
    s = _backend("scorer", "pickscore", tiny=True)
    assert s.model.config.text_config.hidden_act == "gelu"  # the laion H-14 family
    images, prompts = [_pattern(1), _pattern(2)], ["a cat", "a dark street"]
    cos = _backend("scorer", "pickscore", tiny=True, scale="cosine").score(images, prompts)
    logit = s.score(images, prompts)
    np.testing.assert_allclose(logit, cos * float(s.model.logit_scale.exp()), rtol=1e-5)


def test_blip_itm_scores_match_and_no_match_logits_batched(tmp_path):
    from transformers import BlipForImageTextRetrieval

    s = _backend("scorer", "blip_itm_large", tiny=True)
    assert isinstance(s.model, BlipForImageTextRetrieval)
    images = [_pattern(i) for i in range(5)]
    prompts = ["a cat", "a very long prompt " * 20, "x", "dark", "a red bus"]
    batched = s.score(images, prompts)
    assert batched.shape == (5, 2)
    single = np.concatenate([s.score([im], [p]) for im, p in zip(images, prompts, strict=True)])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    # the paper's scoring never truncated the text: words past 35 tokens change the score ...
    long_a, long_b = "a" + " b" * 40, "a" + " b" * 40 + " c d e"
    assert not np.allclose(s.score([images[0]], [long_a]), s.score([images[0]], [long_b]), atol=1e-6)
    # ... and `max_length: 35` restores the original BLIP code's cut
    cut = _backend("scorer", "blip_itm_large", tiny=True, max_length=35)
    np.testing.assert_allclose(cut.score([images[0]], [long_a]), cut.score([images[0]], [long_b]), atol=1e-6)


OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _reference_clip_pixels(im: Image.Image, size: int = 224, offset=lambda d: d // 2) -> np.ndarray:
    """The CLIP transform written out by hand: bicubic resize of the shortest side (long side
    truncated), centre crop at `offset(excess)`, scale to [0, 1], OpenAI mean/std."""
    w, h = im.size
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    r = im.convert("RGB").resize((nw, nh), Image.BICUBIC)
    left, top = offset(nw - size), offset(nh - size)
    x = np.asarray(r.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return ((x - OPENAI_MEAN) / OPENAI_STD).transpose(2, 0, 1)


SHAPES = [(300, 400), (512, 512), (250, 180), (333, 224)]


def test_clip_preprocessing_matches_the_reference_transforms():
    from transformers import CLIPImageProcessorPil

    from aas_dataset.backends.scorers.clip import torchvision_resize_crop

    proc = CLIPImageProcessorPil(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        image_mean=OPENAI_MEAN,
        image_std=OPENAI_STD,
    )
    differs = 0
    for i, shape in enumerate(SHAPES):
        im = Image.fromarray(np.random.default_rng(i).integers(0, 256, (*shape, 3), dtype=np.uint8))
        ours = proc(images=[im], return_tensors="np")["pixel_values"][0]  # transformers / PickScore
        assert np.abs(ours - _reference_clip_pixels(im)).max() < 1e-5
        tv = proc(
            images=[torchvision_resize_crop(im, 224, 224)], do_resize=False, do_center_crop=False, return_tensors="np"
        )
        ref_tv = _reference_clip_pixels(im, offset=lambda d: int(round(d / 2.0)))  # torchvision CenterCrop
        assert np.abs(tv["pixel_values"][0] - ref_tv).max() < 1e-5
        differs += int(np.abs(ours - ref_tv).max() > 1e-3)
    assert differs >= 1  # the two conventions really differ on some sizes (e.g. 180x250)


def test_blip_preprocessing_squashes_to_384_bicubic():
    from transformers import BlipImageProcessorPil

    proc = BlipImageProcessorPil(size={"height": 384, "width": 384}, image_mean=OPENAI_MEAN, image_std=OPENAI_STD)
    im = Image.fromarray(np.random.default_rng(3).integers(0, 256, (200, 500, 3), dtype=np.uint8))
    ours = proc(images=[im], return_tensors="np")["pixel_values"][0]
    ref = np.asarray(im.resize((384, 384), Image.BICUBIC), dtype=np.float32) / 255.0
    ref = ((ref - OPENAI_MEAN) / OPENAI_STD).transpose(2, 0, 1)
    assert np.abs(ours - ref).max() < 1e-4


def test_clip_scorer_torchvision_crop_mode():
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 256, (39, 31, 3), dtype=np.uint8)) for i in range(3)]
    floor = _backend("scorer", "clip_tiny").score(images, ["a", "b", "c"])
    tv = _backend("scorer", "clip_tiny", center_crop="torchvision").score(images, ["a", "b", "c"])
    assert floor.shape == tv.shape == (3,)
    assert not np.allclose(floor, tv)  # 31x39 -> 30x37: crop offset 3 (floor) vs 4 (round half even)


@pytest.mark.parametrize(
    "name, settings", [("clip_tiny", {}), ("pickscore", {"tiny": True}), ("blip_itm_large", {"tiny": True})]
)
def test_tiny_scorers_see_the_image_and_the_prompt(name, settings):
    s = _backend("scorer", name, **settings)
    dark, noise = Image.new("RGB", (64, 64), (0, 0, 0)), _pattern(0)
    by_image = np.asarray(s.score([dark, noise], ["a cat", "a cat"]))
    by_prompt = np.asarray(s.score([noise, noise], ["a cat", "a dark, blurred street at night"]))
    assert np.abs(by_image[0] - by_image[1]).max() > 1e-4
    assert np.abs(by_prompt[0] - by_prompt[1]).max() > 1e-4
