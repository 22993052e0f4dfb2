"""Reward-model ports against their official code on shared random weights, and their
batching / column behaviour on tiny weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from aas_dataset.catalog import resolve  # noqa: E402
from aas_dataset.spec.recipe import Entry  # noqa: E402

from ..helpers import registry_unreachable  # noqa: E402

# The official side of the parity checks runs in isolated environments (torchvision, open_clip
# and the pinned packages do not install beside our torch). hpsv3's pins and open_clip's share
# one environment; image-reward's timm 0.6.13 pin needs its own.
OFFICIAL_ENV = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "transformers==4.45.2",
    "trl==0.11.4",
    "peft==0.13.2",
    "accelerate==1.0.1",
    "datasets",
    "pandas",
    "matplotlib",
    "tensorboard",
    "safetensors",
    "pillow",
    "rich",  # trl imports it
    "open_clip_torch==3.3.0",
]
TINY_OPENCLIP = {  # the open_clip twin of the "tiny" architecture
    "embed_dim": 16,
    "vision_cfg": {"image_size": 28, "layers": 2, "width": 32, "head_width": 8, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}


def images():
    from PIL import Image

    rng = np.random.default_rng(3)
    shapes = [(64, 48), (30, 90), (28, 28), (100, 100), (57, 41)]  # portrait, landscape, exact, square, odd
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in shapes]


PROMPTS = ["a dark alley at night", "a bright beach", "a cat", "blurry fog over a lake", "an old torn photo"]


@pytest.mark.slow
def test_hps_architecture_table_equals_open_clips_model_configs(env_dir):
    """The real-size ViT-H-14 and ViT-L-14 (QuickGELU) configs of the port are open_clip's own,
    read in the official environment."""
    import json
    import subprocess

    from aas_dataset.backends.isolated.env import IsolatedEnv
    from aas_dataset.backends.scorers.hps import ARCHITECTURES

    python = IsolatedEnv(OFFICIAL_ENV, root=__import__("pathlib").Path(env_dir)).ensure()
    names = ["ViT-H-14", "ViT-L-14-quickgelu"]
    code = f"import json, open_clip; print(json.dumps({{n: open_clip.get_model_config(n) for n in {names!r}}}))"
    configs = json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout)
    for name in names:
        c, ours = configs[name], ARCHITECTURES[name]
        v, t = c["vision_cfg"], c["text_cfg"]
        assert ours["projection_dim"] == c["embed_dim"], name
        assert ours["act"] == ("quick_gelu" if c.get("quick_gelu") else "gelu"), name
        head_width = v.get("head_width", 64)
        assert ours["vision"] == {
            "hidden_size": v["width"],
            "num_hidden_layers": v["layers"],
            "num_attention_heads": v["width"] // head_width,
            "patch_size": v["patch_size"],
            "image_size": v["image_size"],
            "intermediate_size": int(v["width"] * v.get("mlp_ratio", 4.0)),
        }, name
        assert ours["text"] == {
            "hidden_size": t["width"],
            "num_hidden_layers": t["layers"],
            "num_attention_heads": t["heads"],
            "intermediate_size": int(t["width"] * t.get("mlp_ratio", 4.0)),
            "vocab_size": t["vocab_size"],
        }, name


@pytest.mark.slow
@pytest.mark.parametrize("transform,quick_gelu,arch", [("hpsv2", False, "tiny"), ("openai", True, "tiny")])
def test_hps_port_equals_open_clip_on_shared_random_weights(
    tmp_path, env_dir, monkeypatch, transform, quick_gelu, arch
):
    """Weights made by open_clip's own init, saved as HPS checkpoints are; pixels made by
    torchvision's transforms; our port must give the same pixels and the same cosine."""
    from aas_dataset.backends.scorers.hps import hpsv2_pixels, openai_pixels

    monkeypatch.setenv("AAS_ENV_DIR", env_dir)
    ckpt, tok = tmp_path / "hps.pt", tmp_path / "tok"
    cfg = {**TINY_OPENCLIP, "quick_gelu": quick_gelu}
    ref_entry = Entry.model_validate(
        {
            "kind": "isolated",
            "settings": {
                "requirements": OFFICIAL_ENV,
                "runner": "openclip_reference",
                "runner_args": {
                    "model_cfg": cfg,
                    "seed": 7,
                    "save_to": str(ckpt),
                    "export_tokenizer_to": str(tok),
                    "transform": transform,
                },
            },
        }
    )
    ref = resolve("scorer", "ref", extra={"ref": ref_entry}).instantiate()
    ref.load()
    try:
        out = ref.score(images(), PROMPTS)
    finally:
        ref.close()
    ref_cos, ref_px = out[:, 0], out[:, 1:].reshape(len(PROMPTS), 3, 28, 28)

    act = "quick_gelu" if quick_gelu else "gelu"
    port_entry = Entry.model_validate(
        {
            "kind": "hps",
            "settings": {
                "architecture": arch,
                "transform": transform,
                "checkpoint": str(ckpt),
                "tokenizer_id": str(tok),
                "device": "cpu",
            },
        }
    )
    port = resolve("scorer", "port", extra={"port": port_entry}).instantiate()
    from aas_dataset.backends.scorers import hps

    monkeypatch.setitem(hps.ARCHITECTURES, "tiny", {**hps.ARCHITECTURES["tiny"], "act": act})
    port.load()
    fn = hpsv2_pixels if transform == "hpsv2" else openai_pixels
    ours_px = torch.stack([fn(im, 28) for im in images()]).numpy()
    np.testing.assert_allclose(ours_px, ref_px, atol=2e-5)  # preprocessing = the official transform
    np.testing.assert_allclose(port.score(images(), PROMPTS), ref_cos, atol=2e-5)  # weights + forward


def test_hpsv2_transform_pads_centred_and_keeps_224_untouched():
    from PIL import Image

    from aas_dataset.backends.scorers.hps import MEAN, STD, hpsv2_pixels

    x = hpsv2_pixels(Image.new("RGB", (100, 50), (255, 255, 255)), size=20)
    # 100x50 -> 20x10, padded 5 rows above and 5 below with black (normalised)
    black = [(-m / s) for m, s in zip(MEAN, STD, strict=True)]
    assert x.shape == (3, 20, 20)
    assert np.allclose(x[0, :5].numpy(), black[0]) and np.allclose(x[0, 15:].numpy(), black[0])
    assert np.allclose(x[0, 5:15].numpy(), (1 - MEAN[0]) / STD[0], atol=1e-4)
    same = hpsv2_pixels(Image.new("RGB", (20, 12), (255, 0, 0)), size=20)  # longest side already 20
    assert same.shape == (3, 12, 20)  # the official quirk: no resize, no padding


def test_openclip_keys_convert_to_transformers_clip():
    from transformers import CLIPModel

    from aas_dataset.backends.scorers.hps import clip_config, openclip_to_hf

    hf = CLIPModel(clip_config("tiny"))
    width, layers = 32, 2
    sd = {"logit_scale": torch.tensor(4.6), "attn_mask": torch.zeros(77, 77)}
    sd.update(
        {
            "visual.class_embedding": torch.randn(width),
            "visual.positional_embedding": torch.randn(5, width),
            "visual.conv1.weight": torch.randn(width, 3, 14, 14),
            "visual.proj": torch.randn(width, 16),
            "token_embedding.weight": torch.randn(49408, width),
            "positional_embedding": torch.randn(77, width),
            "text_projection": torch.randn(width, 16),
        }
    )
    for ln in ("visual.ln_pre", "visual.ln_post", "ln_final"):
        sd[f"{ln}.weight"], sd[f"{ln}.bias"] = torch.randn(width), torch.randn(width)
    for tower in ("visual.transformer", "transformer"):
        for i in range(layers):
            b = f"{tower}.resblocks.{i}"
            sd[f"{b}.attn.in_proj_weight"], sd[f"{b}.attn.in_proj_bias"] = (
                torch.randn(3 * width, width),
                torch.randn(3 * width),
            )
            sd[f"{b}.attn.out_proj.weight"], sd[f"{b}.attn.out_proj.bias"] = (
                torch.randn(width, width),
                torch.randn(width),
            )
            for n in ("ln_1", "ln_2"):
                sd[f"{b}.{n}.weight"], sd[f"{b}.{n}.bias"] = torch.randn(width), torch.randn(width)
            sd[f"{b}.mlp.c_fc.weight"], sd[f"{b}.mlp.c_fc.bias"] = torch.randn(128, width), torch.randn(128)
            sd[f"{b}.mlp.c_proj.weight"], sd[f"{b}.mlp.c_proj.bias"] = torch.randn(width, 128), torch.randn(width)
    out = openclip_to_hf(sd)
    missing, unexpected = hf.load_state_dict(out, strict=False)
    assert not unexpected and all(m.endswith("position_ids") for m in missing)
    q = hf.text_model.encoder.layers[1].self_attn.q_proj.weight
    assert torch.equal(q, sd["transformer.resblocks.1.attn.in_proj_weight"][:width])
    assert torch.equal(hf.visual_projection.weight, sd["visual.proj"].t())
    with pytest.raises(KeyError, match="unexpected open_clip key"):
        openclip_to_hf({"visual.something_new": torch.zeros(1)})


def test_checkpoints_load_without_unpickling_code(tmp_path):
    from aas_dataset.backends.scorers.weights import load_checkpoint

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"state_dict": {"w": torch.ones(1)}, "x": Evil()}, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="(?i)weights only|unpickl|unsupported"):
        load_checkpoint(str(tmp_path / "bad.pt"))
    assert not (tmp_path / "pwned").exists()
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "ok.pt")
    assert torch.equal(load_checkpoint(str(tmp_path / "ok.pt"))["w"], torch.ones(2))


def test_hps_v1_without_a_checkpoint_says_where_to_get_it():
    e = Entry.model_validate({"kind": "hps", "settings": {"architecture": "ViT-L-14-quickgelu", "transform": "openai"}})
    with pytest.raises(RuntimeError, match="OneDrive"):
        resolve("scorer", "h", extra={"h": e}).instantiate().load()


IMAGEREWARD_ENV = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "image-reward==1.5",
    "timm==0.6.13",
    "fairscale==0.4.13",
    "transformers==4.36.2",
    "diffusers==0.25.0",  # image-reward imports diffusers; this one still speaks transformers 4.36
    "huggingface_hub<0.26",
    "openai-clip",
    "setuptools<81",  # openai-clip imports pkg_resources, removed in setuptools 81
]


@pytest.mark.slow
def test_image_reward_port_equals_the_official_package_on_shared_random_weights(tmp_path, env_dir, monkeypatch):
    """image-reward 1.5 (with its timm 0.6.13 pin) in an isolated environment builds the model
    with its own code and seeded random weights and scores each image its own way; our port
    loads the saved state dict (the released file's layout) and must agree."""
    monkeypatch.setenv("AAS_ENV_DIR", env_dir)
    ckpt, vocab = tmp_path / "ImageReward.pt", tmp_path / "bert"
    ref_entry = Entry.model_validate(
        {
            "kind": "isolated",
            "settings": {
                "requirements": IMAGEREWARD_ENV,
                "runner": "imagereward_official",
                "runner_args": {"vocab_dir": str(vocab), "save_to": str(ckpt), "seed": 1},
            },
        }
    )
    ref = resolve("scorer", "ref", extra={"ref": ref_entry}).instantiate()
    ref.load()
    try:
        official = ref.score(images(), PROMPTS)
    finally:
        ref.close()
    port = _scorer("image_reward", checkpoint=str(ckpt), tokenizer_id=str(vocab))
    ours = port.score(images(), PROMPTS)
    assert np.std(official) > 1e-3  # the images and prompts matter to the random model
    np.testing.assert_allclose(ours, official, atol=1e-4)


def _scorer(kind_or_name: str, **settings):
    if kind_or_name in ("image_reward", "hps"):
        e = Entry.model_validate({"kind": kind_or_name, "settings": {"device": "cpu", **settings}})
        s = resolve("scorer", "x", extra={"x": e}).instantiate()
    else:
        s = resolve("scorer", kind_or_name, {"device": "cpu", **settings}).instantiate()
    s.load()
    return s


def test_image_reward_formula_batching_and_35_token_cut():
    from aas_dataset.backends.scorers.image_reward import REWARD_MEAN, REWARD_STD

    s = _scorer("image_reward", tiny=True)
    ims, prompts = images(), PROMPTS
    batched = s.score(ims, prompts)
    one_by_one = np.array([s.score([i], [p])[0] for i, p in zip(ims, prompts, strict=True)])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-6)  # the official code scored one at a time
    assert len(set(np.round(batched, 6))) == len(batched)  # the image and the prompt matter
    long = "a very long prompt that keeps going on and on " * 3
    assert s.score(ims[:1], [long + "ending one"])[0] == s.score(ims[:1], [long + "ending two"])[0]
    with torch.no_grad():  # known head: reward = (mlp(h) - mean) / std
        for m in s.model.mlp:
            if isinstance(m, torch.nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
        s.model.mlp[7].bias.fill_(1.0)
    np.testing.assert_allclose(s.score(ims[:2], prompts[:2]), (1.0 - REWARD_MEAN) / REWARD_STD, atol=1e-6)


def test_image_reward_original_names_load_strictly(tmp_path):
    from aas_dataset.backends.scorers.image_reward import imagereward_to_hf

    s = _scorer("image_reward", tiny=True)
    ours = s.model.state_dict()
    # the released file's names (original BLIP), made from ours by the inverse renaming
    inverse = [
        ("embeddings.class_embedding", "cls_token"),
        ("embeddings.position_embedding", "pos_embed"),
        ("embeddings.patch_embedding", "patch_embed.proj"),
        ("encoder.layers", "blocks"),
        ("self_attn.projection", "attn.proj"),
        ("self_attn.qkv", "attn.qkv"),
        ("layer_norm1", "norm1"),
        ("layer_norm2", "norm2"),
        ("post_layernorm", "norm"),
    ]
    original = {}
    for k, v in ours.items():
        if k.startswith("vision."):
            r = k[len("vision.") :]
            for a, b in inverse:
                r = r.replace(a, b)
            original["blip.visual_encoder." + r] = v
        elif k.startswith("text."):
            original["blip.text_encoder." + k[len("text.") :]] = v
        else:
            original["mlp.layers." + k[len("mlp.") :]] = v
    original["blip.text_decoder.cls.predictions.bias"] = torch.zeros(3)  # parts the scorer does not use
    assert "blip.visual_encoder.blocks.0.attn.qkv.weight" in original
    assert "blip.visual_encoder.norm.weight" in original and "mlp.layers.7.bias" in original
    torch.save(original, tmp_path / "ImageReward.pt")
    e = Entry.model_validate({"kind": "image_reward", "settings": {"device": "cpu", "tiny": True}})
    fresh = resolve("scorer", "x", extra={"x": e}).instantiate()
    fresh.settings.weights_seed = 99
    fresh.load()
    loaded = fresh.model.load_state_dict(imagereward_to_hf(original), strict=True)
    assert not loaded.missing_keys and not loaded.unexpected_keys
    np.testing.assert_allclose(fresh.score(images(), PROMPTS), s.score(images(), PROMPTS), atol=1e-6)


@pytest.fixture(scope="session")
def hpsv3_wheel(tmp_path_factory):
    """The official hpsv3 wheel (downloaded, never installed): the source of its texts."""
    from aas_dataset.spec.official_texts import HPSV3_PACKAGE, OfficialTextError, fetch_wheel

    cache = os.environ.get("AAS_TEST_WHEEL_DIR") or tmp_path_factory.mktemp("wheels")
    try:
        return fetch_wheel(HPSV3_PACKAGE, __import__("pathlib").Path(cache))
    except OfficialTextError as e:  # no package registry reachable
        registry_unreachable("the hpsv3 wheel", e)


def _hpsv3(wheel, **kw):
    # fp32: the official side of the parity test runs fp32 on the CPU (tiny weights honour dtype)
    settings = {"tiny": True, "device": "cpu", "pixels": 3136, "dtype": "float32", "text_source": str(wheel), **kw}
    e = Entry.model_validate({"kind": "hpsv3", "settings": settings})
    s = resolve("scorer", "h3", extra={"h3": e}).instantiate()
    s.load()
    return s


def test_hpsv3_batched_equals_one_by_one_and_reads_mu_at_the_reward_token(hpsv3_wheel):
    s = _hpsv3(hpsv3_wheel)
    ims, prompts = images(), PROMPTS
    out = s.score(ims, prompts)
    assert out.shape == (5, 2)  # mu, log sigma
    single = np.stack([s.score([i], [p])[0] for i, p in zip(ims, prompts, strict=True)])
    np.testing.assert_allclose(out, single, atol=1e-5)  # right padding after the reward token is harmless
    assert len(set(np.round(out[:, 0], 7))) == 5
    # the official forward uses positions 0..L-1 on all three M-RoPE axes
    text, vis = s._inputs(ims[:1], prompts[:1])
    ids = text["input_ids"]
    pos = torch.arange(ids.shape[1]).view(1, 1, -1).expand(3, 1, -1)
    m = s.model
    with torch.no_grad():
        emb = m.model.get_input_embeddings()(ids)
        feats = torch.cat(list(m.model.get_image_features(vis["pixel_values"], vis["image_grid_thw"]).pooler_output))
        emb = emb.masked_scatter((ids == m.config.image_token_id).unsqueeze(-1).expand_as(emb), feats)
        h = m.model.language_model(inputs_embeds=emb, attention_mask=text["attention_mask"], position_ids=pos)
        mu = m.rm_head(h.last_hidden_state.float())[ids == s.reward_id][0, 0]
    assert abs(float(mu) - out[0, 0]) < 1e-5
    with pytest.raises(ValueError, match="reward token"):
        s.score(ims[:1], ["a cat <|Reward|>"])


def test_hpsv3_runs_its_head_in_fp32_on_a_bf16_backbone():
    """As the official model: the backbone in the configured dtype, rm_head in fp32 on the
    hidden state cast to fp32. A bf16 head gives other scores."""
    import copy

    e = Entry.model_validate(
        {
            "kind": "hpsv3",
            "settings": {"tiny": True, "texts": "ours", "device": "cpu", "pixels": 3136, "dtype": "bfloat16"},
        }
    )
    s = resolve("scorer", "h3", extra={"h3": e}).instantiate()
    s.load()
    assert s.model.model.language_model.embed_tokens.weight.dtype == torch.bfloat16  # tiny honours dtype
    assert {p.dtype for p in s.model.rm_head.parameters()} == {torch.float32}
    ours = s.score(images(), PROMPTS)
    head_bf16 = copy.deepcopy(s.model.rm_head).to(torch.bfloat16)

    class Bf16Head(torch.nn.Module):  # what the model would do without the two fp32 casts
        def forward(self, x):
            return head_bf16(x.to(torch.bfloat16))

    s.model.rm_head = Bf16Head()
    dropped = s.score(images(), PROMPTS)
    assert np.abs(ours - dropped).max() > 1e-4


def test_hpsv3_texts_must_be_the_official_ones(hpsv3_wheel, tmp_path):
    import zipfile

    from aas_dataset.spec.official_texts import HPSV3_MODULE, OfficialTextError, hpsv3_texts

    instruction, suffix = hpsv3_texts(str(hpsv3_wheel), tmp_path)
    assert "{text_prompt}" in instruction and "<|Reward|>" in suffix
    src = zipfile.ZipFile(hpsv3_wheel).read(HPSV3_MODULE).decode()
    fork = tmp_path / "data_collator_qwen.py"
    fork.write_text(src.replace("Text Alignment", "Text Alignmnet", 1))  # a fork's edited instruction
    with pytest.raises(OfficialTextError, match="not the official text"):
        hpsv3_texts(str(fork), tmp_path)
    with pytest.raises(OfficialTextError, match="could not download"):
        from aas_dataset.spec.official_texts import fetch_wheel

        fetch_wheel("aas-no-such-package-xyz==1.0", tmp_path / "none")


def test_hpsv3_legacy_key_layout_loads_strictly(hpsv3_wheel):
    from aas_dataset.backends.scorers.hpsv3 import remap_hpsv3_keys

    s = _hpsv3(hpsv3_wheel)
    legacy = {}
    for k, v in s.model.state_dict().items():  # the 4.45 layout of the released file
        if k.startswith("model.visual."):
            legacy[k[len("model.") :]] = v
        elif k.startswith("model.language_model."):
            legacy["model." + k[len("model.language_model.") :]] = v
        else:
            legacy[k] = v
    assert "visual.merger.mlp.2.weight" in legacy and "model.embed_tokens.weight" in legacy
    other = _hpsv3(hpsv3_wheel, weights_seed=5)
    before = other.score(images()[:2], PROMPTS[:2])
    other.model.load_state_dict(remap_hpsv3_keys(legacy), strict=True)
    np.testing.assert_allclose(other.score(images()[:2], PROMPTS[:2]), s.score(images()[:2], PROMPTS[:2]), atol=1e-6)
    assert not np.allclose(before, other.score(images()[:2], PROMPTS[:2]))


# --- the per-dimension rater J ----------------------------------------------------------
# Stand-ins for the official repository files, in our own words: the real ones are read at
# run time from weathon/AAS and must match the recorded hash (checked below).
SYNTH_INFER = """
import torch
guide = {}
for dim in dims:
    text = f"Judge this picture for {dim}. Guidance: {guide[dim]} Reply with one digit only."
    other = f"not the prompt {dim}"
"""
CSV_DIMS = [
    "background",
    "clarity",
    "color aesthetic",
    "color brightness",
    "detail realism",
    "detail refinement",
    "emotion",
    "lighting distinction",
    "main object",
    "object pairing",
    "richness",
    "hands",
]


def synth_rules() -> str:
    """Shaped like the released rules.csv: a byte-order mark, CRLF line ends, forward-filled rows."""
    lines = ["\ufeffDimension ,Score , Option,Description"]
    for d in CSV_DIMS:
        lines.append(f"Aspect ({d}),1,good {d},  looks fine  ")
        lines.append(f",0,plain {d},neither")  # forward-filled dimension
        lines.append(f",-1,bad {d},looks off")
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def rater_files(tmp_path, monkeypatch):
    import hashlib

    from aas_dataset.backends.scorers import rater
    from aas_dataset.spec.official_texts import Recorded

    (tmp_path / "infer.py").write_text(SYNTH_INFER)
    (tmp_path / "rules.csv").write_text(synth_rules())
    literal = "Judge this picture for {dim}. Guidance: {guide[dim]} Reply with one digit only."
    monkeypatch.setattr(
        rater, "TEMPLATE", Recorded("t", len(literal), hashlib.sha256(literal.encode()).hexdigest()[:16])
    )
    return {"infer_path": str(tmp_path / "infer.py"), "rules_path": str(tmp_path / "rules.csv")}


def test_rater_reads_template_and_guidelines_from_the_official_files(rater_files):
    from aas_dataset.backends.scorers.rater import guidelines, template_from_source
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    t = template_from_source(SYNTH_INFER, "infer.py")
    assert t.startswith("Judge this picture for {dim}.") and "{guide[dim]}" in t
    g = guidelines(synth_rules())
    assert list(g) == sorted(g) and sorted(g) == sorted(DIMENSION_KEYS)  # 11, hands excluded
    key, guide = g["color brightness"]
    assert key == "color brightness"
    assert eval(guide) == {
        "good color brightness: 2": ": looks fine",
        "plain color brightness: 1": ": neither",
        "bad color brightness: 0": ": looks off",
    }


def test_rater_refuses_a_template_that_is_not_the_official_one(tmp_path):
    from aas_dataset.backends.scorers.rater import template_from_source
    from aas_dataset.spec.official_texts import OfficialTextError

    with pytest.raises(OfficialTextError, match="not the official text"):
        template_from_source(SYNTH_INFER, "infer.py")  # the recorded hash is the real file's


def test_rater_through_a_build_fills_the_rater_columns(rater_files, tmp_path):
    from datasets import load_dataset

    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.engine.build import Builder
    from aas_dataset.spec.taxonomy import DIMENSION_KEYS

    from ..helpers import mini_recipe

    settings = {"tiny": True, "device": "cpu", "dtype": "float32", "image_size": 64, **rater_files}
    recipe = mini_recipe(
        tmp_path / "r.yaml",
        n=2,
        scorers=[{"name": "rater_j", "settings": settings}],
        judges=["image_stats"],
        batch_size=2,
    )
    out = tmp_path / "out"
    report = Builder(load_recipe(recipe), out).run()
    assert not report.failures, report.failures
    pairs = load_dataset(str(out), "pairs", split="test")
    assert "rater_rater_j" in pairs.column_names and "rater_rater_j_pred" in pairs.column_names
    assert not any(c.startswith("score_rater_j") for c in pairs.column_names)
    for r in pairs:
        for v in ("original", "distorted"):
            e, p = r["rater_rater_j"][v], r["rater_rater_j_pred"][v]
            assert len(e) == len(p) == len(DIMENSION_KEYS)
            assert all(0.0 <= x <= 2.0 for x in e) and set(p) <= {0, 1, 2}


def test_rater_left_padded_batch_equals_one_by_one(rater_files):
    e = Entry.model_validate(
        {
            "kind": "rater",
            "settings": {"tiny": True, "device": "cpu", "dtype": "float32", "image_size": 64, **rater_files},
        }
    )
    s = resolve("scorer", "j", extra={"j": e}).instantiate()
    s.load()
    ims = images()[:3]
    batched = s.score(ims, [""] * 3)
    single = np.stack([s.score([im], [""])[0] for im in ims])
    assert batched.shape == (3, 22)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert s.tokenizer.padding_side == "left"


# --- MPS --------------------------------------------------------------------------------
SYNTH_EVAL = """
def infer_one_sample(image, prompt, condition=None):
    if condition is None:
        condition = "glow, hue, sharpness, mood, texture, layout."
    return condition
"""


@pytest.fixture
def mps_condition(tmp_path, monkeypatch):
    import hashlib

    from aas_dataset.backends.scorers import mps
    from aas_dataset.spec.official_texts import Recorded

    text = "glow, hue, sharpness, mood, texture, layout."
    monkeypatch.setattr(
        mps, "CONDITION", Recorded("condition", len(text), hashlib.sha256(text.encode()).hexdigest()[:16])
    )
    (tmp_path / "eval.py").write_text(SYNTH_EVAL)
    return str(tmp_path / "eval.py")


def _mps(src, **kw):
    e = Entry.model_validate(
        {"kind": "mps", "settings": {"tiny": True, "device": "cpu", "condition_source": src, **kw}}
    )
    s = resolve("scorer", "m", extra={"m": e}).instantiate()
    s.load()
    return s


def test_mps_normalises_per_sample_so_batching_changes_nothing(mps_condition):
    s = _mps(mps_condition)
    ims = images()
    batched = s.score(ims, PROMPTS)
    single = np.array([s.score([i], [p])[0] for i, p in zip(ims, PROMPTS, strict=True)])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert len(set(np.round(batched, 6))) == 5
    assert s.condition.startswith("glow")
    # the threshold decides which prompt tokens the image may attend to
    assert not np.allclose(_mps(mps_condition, threshold=0.99).score(ims, PROMPTS), batched)


def test_mps_condition_must_be_the_official_one(tmp_path):
    from aas_dataset.backends.scorers.mps import condition_from_source
    from aas_dataset.spec.official_texts import OfficialTextError

    with pytest.raises(OfficialTextError, match="not the official text"):
        condition_from_source(SYNTH_EVAL, "eval.py")
    with pytest.raises(OfficialTextError, match="no `condition"):
        condition_from_source("x = 1\n", "other.py")


def test_convert_mps_turns_a_module_pickle_into_safetensors_in_a_subprocess(mps_condition, tmp_path, monkeypatch):
    """A stand-in for the released whole-module pickle: classes from modules that do not
    exist where the conversion runs (as trainer.models.* does not exist for us)."""
    import sys
    import types

    from typer.testing import CliRunner

    from aas_dataset.cli import app

    s = _mps(mps_condition, weights_seed=3)
    mod = types.ModuleType("aas_test_mps_trainer_models")

    class XCLIPModel(torch.nn.Module):  # the released object: .model (CLIP) + .cross_model
        def __init__(self, model, cross):
            super().__init__()
            self.model, self.cross_model = model, cross

    # every class of the object lives in that module, as the released one's live in trainer.models.*
    for cls in {XCLIPModel, *(type(m) for m in s.cross_model.modules())}:
        if cls.__module__.startswith("torch"):
            continue
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    pth = tmp_path / "MPS_overall_checkpoint.pth"
    torch.save(XCLIPModel(s.model, s.cross_model), pth)

    out = tmp_path / "MPS_overall.safetensors"
    res = CliRunner().invoke(app, ["convert-mps", str(pth), str(out)])
    assert res.exit_code == 0, res.output
    report = __import__("json").loads(out.with_suffix(".json").read_text())
    assert any(k.startswith("cross_model.layers.0.1.fn.rotary_emb.inv_freq") for k in report["keys"])
    from safetensors.torch import load_file

    fresh = _mps(mps_condition, weights_seed=9)
    before = fresh.score(images()[:2], PROMPTS[:2])
    fresh.load_converted(load_file(str(out)))
    np.testing.assert_allclose(fresh.score(images(), PROMPTS), s.score(images(), PROMPTS), atol=1e-6)
    assert not np.allclose(before, fresh.score(images()[:2], PROMPTS[:2]))


class _Payload:
    """Unpickling this runs a shell command (a file appears) unless the unpickler refuses it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def _legacy_with(path: Path, slot: str, payload) -> None:
    """A legacy (non-zip) torch file whose pickle in `slot` is the payload: torch's reader
    unpickles the magic number, protocol, sys info, the object and the storage keys in turn."""
    import io
    import pickle
    import pickletools

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
    buf.seek(0)
    parts = []
    for _ in range(5):  # magic, protocol, sys_info, object, storage keys
        start = buf.tell()
        for _op in pickletools.genops(buf):  # reads up to and including this pickle's STOP
            pass
        parts.append(buf.getvalue()[start : buf.tell()])
    rest = buf.getvalue()[buf.tell() :]
    index = ["magic", "protocol", "sys_info", "object", "storage_keys"].index(slot)
    parts[index] = pickle.dumps(payload, protocol=2)
    path.write_bytes(b"".join(parts) + rest)


@pytest.mark.parametrize("fmt", ["zip", "legacy", "magic", "protocol", "sys_info", "storage_keys"])
def test_convert_mps_refuses_code_in_the_pickle_in_every_format(tmp_path, fmt):
    """The payload sits in the zip format's data.pkl, in the legacy format's object, or in any
    of the legacy reader's other pickles (each read with a bare `load`)."""
    from typer.testing import CliRunner

    from aas_dataset.cli import app

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    if fmt == "zip":
        torch.save({"m": _Payload(marker)}, evil)
    elif fmt == "legacy":
        torch.save({"m": _Payload(marker)}, evil, _use_new_zipfile_serialization=False)
    else:
        _legacy_with(evil, fmt, _Payload(marker))
    res = CliRunner().invoke(app, ["convert-mps", str(evil), str(tmp_path / "o.safetensors")])
    assert res.exit_code == 1 and "refusing global" in res.output, res.output
    assert not marker.exists() and not (tmp_path / "o.safetensors").exists()


@pytest.mark.slow
def test_a_build_with_every_scorer_on_tiny_weights_completes_offline(tmp_path, hpsv3_wheel, rater_files, mps_condition):
    from datasets import load_dataset
    from typer.testing import CliRunner

    from aas_dataset.catalog.recipes import load_recipe
    from aas_dataset.cli import app
    from aas_dataset.engine.build import Builder

    from ..helpers import mini_recipe

    tiny = {"tiny": True, "device": "cpu"}
    scorers = [
        "clip_tiny",
        {"name": "pickscore", "settings": {"tiny": True}},
        {"name": "blip_itm_large", "settings": {"tiny": True}},
        {"name": "hpsv2_1", "settings": {**tiny, "architecture": "tiny", "checkpoint": None}},
        {"name": "hps_v1", "settings": {**tiny, "architecture": "tiny"}},
        {"name": "image_reward", "settings": tiny},
        {"name": "hpsv3", "settings": {**tiny, "pixels": 3136, "dtype": "float32", "text_source": str(hpsv3_wheel)}},
        {"name": "mps", "settings": {**tiny, "condition_source": mps_condition}},
        {"name": "rater_j", "settings": {**tiny, "dtype": "float32", "image_size": 64, **rater_files}},
        "image_stats",
    ]
    out = tmp_path / "out"
    report = Builder(load_recipe(mini_recipe(tmp_path / "r.yaml", n=2, scorers=scorers)), out).run()
    assert not report.failures, report.failures
    scores = load_dataset(str(out), "scores", split="test")
    expected = {
        "score_clip_tiny",
        "score_pickscore",
        "score_blip_itm_large",
        "score_blip_itm_large_neg",
        "score_hpsv2_1",
        "score_hps_v1",
        "score_image_reward",
        "score_hpsv3",
        "score_hpsv3_log_sigma",
        "score_mps",
        "rater_rater_j",
        "rater_rater_j_pred",
    }
    assert expected <= set(scores.column_names)
    assert scores.num_rows == 4
    for r in scores:
        for c in expected - {"rater_rater_j", "rater_rater_j_pred"}:
            assert r[c] is not None and all(np.isfinite(v) for v in r[c].values()), c
    # the paper's reward-model table is computed from these columns; eval-reward takes any catalog name
    res = CliRunner().invoke(
        app,
        [
            "eval-reward",
            "--scorer",
            "image_reward",
            "--data",
            str(out),
            "--set",
            "tiny=true",
            "--set",
            'device="cpu"',
            "--n-boot",
            "10",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "image_reward" in res.output
    res = CliRunner().invoke(
        app,
        [
            "eval-reward",
            "--scorer",
            "rater_j",
            "--data",
            str(out),
            "--set",
            "tiny=true",
            "--set",
            f'infer_path="{rater_files["infer_path"]}"',
            "--set",
            f'rules_path="{rater_files["rules_path"]}"',
        ],
    )
    assert res.exit_code == 2 and "not a reward model" in res.output


@pytest.mark.slow
def test_hpsv3_port_equals_the_official_model_class_on_shared_random_weights(
    tmp_path, env_dir, monkeypatch, hpsv3_wheel
):
    """hpsv3 1.0.0's own model class and preprocessing on transformers 4.45.2 (isolated), the
    port on 5.x loading the saved 4.45-layout weights: same mu and log sigma."""
    import json

    from safetensors.torch import load_file
    from tokenizers.pre_tokenizers import ByteLevel

    from aas_dataset.backends.scorers.hpsv3 import TINY_QWEN2VL_VISION, remap_hpsv3_keys
    from aas_dataset.backends.scorers.qwen_vl import QWEN_SPECIALS, TINY_CHAT_TEMPLATE

    monkeypatch.setenv("AAS_ENV_DIR", env_dir)
    vocab_dir, weights = tmp_path / "tok", tmp_path / "HPSv3.safetensors"
    vocab_dir.mkdir()
    (vocab_dir / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(sorted(ByteLevel.alphabet()))}))
    (vocab_dir / "merges.txt").write_text("#version: 0.2\n")
    dims = {
        "hidden": 64,
        "intermediate": 128,
        "layers": 2,
        "heads": 4,
        "kv_heads": 2,
        "mrope_section": [2, 3, 3],
        "rope_theta": 10000.0,  # as the port's tiny config
        "vision": TINY_QWEN2VL_VISION,  # the port's tiny vision tower
    }
    args = {
        "wheel": str(hpsv3_wheel),
        "vocab_dir": str(vocab_dir),
        "specials": QWEN_SPECIALS,
        "dims": dims,
        "seed": 4,
        "save_to": str(weights),
        "pixels": 3136,
        "chat_template": TINY_CHAT_TEMPLATE,
    }
    ref_entry = Entry.model_validate(
        {
            "kind": "isolated",
            "settings": {"requirements": OFFICIAL_ENV, "runner": "hpsv3_official", "runner_args": args},
        }
    )
    ref = resolve("scorer", "ref", extra={"ref": ref_entry}).instantiate()
    ref.load()
    try:
        official = ref.score(images(), PROMPTS)
    finally:
        ref.close()
    port = _hpsv3(hpsv3_wheel)
    port.model.load_state_dict(remap_hpsv3_keys(load_file(str(weights))), strict=True)
    ours = port.score(images(), PROMPTS)
    assert official.shape == ours.shape == (5, 2)
    np.testing.assert_allclose(ours, official, atol=1e-4)
