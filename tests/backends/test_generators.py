"""Every pipeline class of the catalog, on tiny random weights, through the generate stage.

The checkpoints are saved to folders and loaded by the `diffusers` kind exactly as a Hub
checkpoint is (from_pretrained with dtype, device, revision-less local path); only the
catalog entry differs from a real build.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import yaml

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from aas_dataset.catalog import CATALOG_PATH  # noqa: E402
from aas_dataset.catalog.recipes import load_recipe  # noqa: E402
from aas_dataset.engine.build import Builder  # noqa: E402
from aas_dataset.engine.executors import LocalExecutor  # noqa: E402
from tests.tiny_pipelines import BUILDERS, save_tiny_pipeline  # noqa: E402

from ..helpers import mini_recipe  # noqa: E402

# Per class: settings that differ from the shared tiny ones (each mirrors its catalog entry).
CLASS_SETTINGS = {
    "FluxPipeline": {"guidance": 3.5, "call_kwargs": {"max_sequence_length": 32}},
    "StableDiffusion3Pipeline": {"guidance": 6.0, "negative_distorted": "", "call_kwargs": {"max_sequence_length": 32}},
    "StableDiffusionXLPipeline": {"guidance": 5.0, "negative_distorted": "", "compel": True},
    "ZImagePipeline": {"guidance": 0.0, "batch_invariant": False},
    "Flux2KleinPipeline": {"guidance": 1.0},
    "QwenImagePipeline": {
        "guidance": 4.0,
        "guidance_param": "true_cfg_scale",
        "negative_original": " ",
        "negative_distorted": " ",
    },
    "GlmImagePipeline": {"guidance": 1.5, "batch_invariant": False},
    "LongCatImagePipeline": {
        "guidance": 4.0,
        "omit_components": ["text_processor"],
        "call_kwargs": {"enable_prompt_rewrite": False},
    },
}


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_ckpts")

    def get(cls_name: str):
        return save_tiny_pipeline(cls_name, root / cls_name)

    return get


def entry(folder, pipeline: str, **settings) -> dict:
    base = {"pipeline": pipeline, "dtype": "float32", "device": "cpu", "steps": 2, "width": 32, "height": 32}
    return {"kind": "diffusers", "model_id": str(folder), "license": "apache-2.0", "settings": {**base, **settings}}


def generate(tmp_path, gen_entry: dict, n: int = 4, batch_size: int = 1, **recipe) -> dict:
    """Run prompts, negatives and generate through the executor; {(index, variant): array}."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = mini_recipe(
        tmp_path / "r.yaml",
        n=n,
        catalog={"generators": {"g": gen_entry}},
        generators=["g"],
        judges=[],
        scorers=[],
        batch_size=batch_size,
        **recipe,
    )
    b = Builder(load_recipe(path), tmp_path / "out")
    plan = b.plan()
    ex = LocalExecutor(b.store, batch_size)
    for sp in plan[:3]:
        stats = ex.run(sp.stage, sp.units, sp.models)
        assert not stats.failures, stats.failures
    from PIL import Image

    out = {}
    for u in plan[2].units:
        for variant in ("original", "distorted"):
            png = b.store.read("generate", u.key, f"{variant}.png")
            out[(u.payload["index"], variant)] = np.asarray(Image.open(io.BytesIO(png)))
    return out


def test_every_class_has_a_tiny_build_and_a_catalog_entry():
    cat = yaml.safe_load(CATALOG_PATH.read_text())["generators"]
    used = {e["settings"]["pipeline"] for e in cat.values() if e["kind"] == "diffusers"}
    assert used <= set(BUILDERS), used - set(BUILDERS)
    assert set(CLASS_SETTINGS) == set(BUILDERS)


@pytest.mark.parametrize("cls_name", sorted(CLASS_SETTINGS))
def test_pipeline_class_through_the_generate_stage(cls_name, tiny_ckpt, tmp_path):
    folder = tiny_ckpt(cls_name)
    e = entry(folder, cls_name, **CLASS_SETTINGS[cls_name])
    one = generate(tmp_path / "b1", e, n=4, batch_size=1)
    four = generate(tmp_path / "b4", e, n=4, batch_size=4)
    again = generate(tmp_path / "again", e, n=2, batch_size=1)
    assert len(one) == 8
    for key, img in one.items():
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8  # size and RGB mode
        # batch size 1 vs 4: per-image CPU generators make the noise equal; what remains is
        # float rounding of batch-shaped kernels : at most one level.
        diff = np.abs(img.astype(int) - four[key].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.02, f"{cls_name}: {key} differs between batch 1 and 4"
        if key in again:  # same seed, fresh process state -> same pixels
            assert np.array_equal(img, again[key])
    # a different prompt or seed gives a different image
    assert not np.array_equal(one[(0, "original")], one[(0, "distorted")])
    assert not np.array_equal(one[(0, "original")], one[(1, "original")])


def test_sdxl_compel_encodes_past_77_tokens(tiny_ckpt):
    from aas_dataset.catalog import resolve
    from aas_dataset.spec.recipe import Entry

    folder = tiny_ckpt("StableDiffusionXLPipeline")
    gens = {}
    for name, use in (("plain", False), ("compel", True)):
        ent = Entry.model_validate(entry(folder, "StableDiffusionXLPipeline", guidance=5.0, compel=use))
        g = resolve("generator", name, extra={name: ent}).instantiate()
        g.load()
        gens[name] = g
    head = "a cat " * 40  # > 77 byte-level tokens
    p1, p2 = head + "in a bright garden", head + "in a dark dungeon"
    plain = [np.asarray(im) for im in gens["plain"].generate([p1, p2], [3, 3])]
    comp = [np.asarray(im) for im in gens["compel"].generate([p1, p2], [3, 3])]
    assert np.array_equal(plain[0], plain[1])  # the pipeline truncates at 77: the endings are lost
    assert not np.array_equal(comp[0], comp[1])  # compel keeps them
    # short prompts: compel's no-weights path matches the pipeline's own encoding closely
    short_p = gens["plain"].generate(["a cat"], [4])[0]
    short_c = gens["compel"].generate(["a cat"], [4])[0]
    assert np.abs(np.asarray(short_p, float) - np.asarray(short_c, float)).mean() < 2.0


def test_peft_lora_is_merged_at_its_alpha_over_r(tiny_ckpt, tmp_path):
    from peft import LoraConfig, get_peft_model

    from aas_dataset.catalog import resolve
    from aas_dataset.spec.recipe import Entry
    from tests.tiny_pipelines import build_tiny_pipeline

    folder = tiny_ckpt("StableDiffusion3Pipeline")
    base = build_tiny_pipeline("StableDiffusion3Pipeline").transformer
    targets = ["attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj"]
    targets += ["attn.add_v_proj", "attn.to_add_out"]
    cfg = LoraConfig(r=4, lora_alpha=8, init_lora_weights="gaussian", target_modules=targets)
    peft_model = get_peft_model(base, cfg)
    with torch.no_grad():  # gaussian init leaves B = 0; give it weights so the merge shows
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * 0.05)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    mod = peft_model.base_model.model.transformer_blocks[0].attn.to_q
    a, bmat = mod.lora_A["default"].weight.detach().clone(), mod.lora_B["default"].weight.detach().clone()

    ent = Entry.model_validate(
        entry(folder, "StableDiffusion3Pipeline", guidance=6.0, lora={"id": str(adapter)}, negative_distorted="")
    )
    g = resolve("generator", "sd3_lora", extra={"sd3_lora": ent}).instantiate()
    g.load()
    from diffusers import SD3Transformer2DModel

    original = SD3Transformer2DModel.from_pretrained(folder, subfolder="transformer")
    w0 = original.transformer_blocks[0].attn.to_q.weight
    w1 = g.pipe.transformer.transformer_blocks[0].attn.to_q.weight
    expected = w0 + (8 / 4) * (bmat @ a)
    assert torch.allclose(w1, expected, atol=1e-6)
    assert not torch.allclose(w1, w0 + bmat @ a, atol=1e-4)  # not the scale-1.0 load
    assert type(g.pipe.transformer).__name__ == "SD3Transformer2DModel"  # unwrapped after merge


def test_single_file_transformer_replaces_the_pipeline_one(tiny_ckpt, tmp_path):
    from safetensors.torch import save_file

    from aas_dataset.catalog import resolve
    from aas_dataset.spec.recipe import Entry
    from tests.tiny_pipelines import build_tiny_pipeline

    folder = tiny_ckpt("FluxPipeline")
    other = build_tiny_pipeline("FluxPipeline", weights_seed=5).transformer  # "fine-tuned" weights
    weights = tmp_path / "checkpoint-ema-300-0" / "diffusion_pytorch_model.safetensors"
    weights.parent.mkdir()
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(weights))
    single = {"path": str(weights), "config": str(folder), "subfolder": "transformer"}
    ent = Entry.model_validate(entry(folder, "FluxPipeline", guidance=3.5, single_file=single))
    g = resolve("generator", "dance", extra={"dance": ent}).instantiate()
    g.load()
    for (k, v), (k2, v2) in zip(g.pipe.transformer.state_dict().items(), other.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k


def _flux_mitigated(tiny_ckpt, method: dict):
    from aas_dataset.catalog import resolve
    from aas_dataset.spec.recipe import Entry

    folder = tiny_ckpt("FluxPipeline")
    s = {"guidance": 3.5, "call_kwargs": {"max_sequence_length": 32}}
    if method:
        s["mitigation"] = method
    g = resolve("generator", "m", extra={"m": Entry.model_validate(entry(folder, "FluxPipeline", **s))}).instantiate()
    g.load()
    return g


P = ["a red cat on a mat", "a bright sunny beach at noon"]
NEG = ["blurry", "dark grainy photo"]


def _run(g, negatives, output_type="np"):
    g.settings.call_kwargs["output_type"] = output_type
    try:
        return g.generate_pairs(P, P, [1, 2], [1, 2], negatives)[1]
    finally:
        g.settings.call_kwargs.pop("output_type")


@pytest.mark.parametrize(
    "method", [{"method": "vsf", "scale": 3.0}, {"method": "nag", "scale": 4.0, "tau": 2.5, "alpha": 0.5}]
)
def test_vsf_and_nag_change_the_image_only_with_a_negative_prompt(tiny_ckpt, method):
    from aas_dataset.backends.generators import negative_guidance as ng

    g = _flux_mitigated(tiny_ckpt, method)
    plain = _flux_mitigated(tiny_ckpt, {})
    unguided = np.stack(_run(plain, None))
    guided = np.stack(_run(g, NEG))
    assert np.abs(guided - unguided).max() > 1e-3  # the negative prompt changes the output
    # another negative prompt, another image
    other = np.stack(_run(g, ["bright colors", "sharp clean lines"]))
    assert np.abs(guided - other).max() > 1e-4
    # no negative prompt (the original arm) -> exactly the unguided pipeline
    assert np.array_equal(np.stack(g.generate(P, [1, 2], arm="original")), np.stack(plain.generate(P, [1, 2])))
    # processors are restored after the call
    assert all(type(p).__name__ == "FluxAttnProcessor" for p in g.pipe.transformer.attn_processors.values())
    # batch of 1 gives the same image as in a batch of 2
    g.settings.call_kwargs["output_type"] = "np"
    solo = g.generate([P[1]], [2], [NEG[1]], "distorted")[0]
    g.settings.call_kwargs.pop("output_type")
    assert np.abs(np.asarray(solo) - guided[1]).max() < 1e-5
    assert ng  # module imported lazily by the backend


def test_nag_at_scale_zero_reproduces_the_unguided_output(tiny_ckpt):
    """Run the NAG algebra at phi = 0 (the backend would skip it): it must equal no guidance."""
    from aas_dataset.backends.generators.negative_guidance import nag_call

    plain = _flux_mitigated(tiny_ckpt, {})
    call = {"num_inference_steps": 2, "guidance_scale": 3.5, "width": 32, "height": 32, "output_type": "np"}
    gens = lambda: [torch.Generator("cpu").manual_seed(i) for i in (1, 2)]  # noqa: E731
    unguided = plain.pipe(prompt=P, generator=gens(), max_sequence_length=32, **call).images
    zero = nag_call(plain.pipe, P, NEG, gens(), 0.0, 2.5, 0.5, max_sequence_length=32, **call)
    assert np.abs(np.stack(zero) - unguided).max() < 1e-5


def test_vsf_and_nag_at_scale_zero_are_off(tiny_ckpt):
    plain = np.stack(_run(_flux_mitigated(tiny_ckpt, {}), None))
    for m in ({"method": "vsf", "scale": 0.0}, {"method": "nag", "scale": 0.0}):
        off = np.stack(_run(_flux_mitigated(tiny_ckpt, m), NEG))
        assert np.abs(off - plain).max() < 1e-5  # equal up to batch-shape rounding


def test_vsf_mask_isolates_the_streams():
    from aas_dataset.backends.generators.negative_guidance import VSFFluxProcessor

    proc = VSFFluxProcessor(scale=2.0, offset=0.1)
    proc.pos_len, proc.neg_len = 3, 2
    m = proc._mask(3 + 2 + 4, torch.float32, "cpu")[0, 0]  # queries [P3, N2, I4], keys [P, N, I, N']
    blocked = torch.isinf(m)
    assert blocked[:3, 3:5].all() and blocked[:5, 9:].all()  # text never sees N' ; P never sees N
    assert blocked[3:5, :3].all() and not blocked[3:5, 3:9].any()  # N sees itself and the image only
    assert blocked[5:, 3:5].all() and not blocked[5:, :3].any()  # image sees P, not N ...
    assert torch.all(m[5:, 9:] == -0.1)  # ... and the flipped copy with the offset


def test_mitigated_generator_needs_a_negative_writer_and_records_the_negative(tiny_ckpt, tmp_path):
    from aas_dataset.catalog import CatalogError

    folder = tiny_ckpt("FluxPipeline")
    e = entry(folder, "FluxPipeline", guidance=3.5, mitigation={"method": "vsf", "scale": 2.0})
    e["settings"]["call_kwargs"] = {"max_sequence_length": 32}
    with pytest.raises((ValueError, CatalogError), match="negative_writer"):
        generate(tmp_path / "none", e, n=1, negative_writer=None)
    imgs = generate(tmp_path / "ok", e, n=2)  # the smoke recipe's template negative writer
    assert len(imgs) == 4
