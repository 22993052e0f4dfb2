"""Tiny random-weight checkpoints of every pipeline class in the catalog, saved to a folder.

`save_tiny_pipeline(cls_name, folder)` builds the real diffusers pipeline class from small
configs (tokenizers made offline), writes it with `save_pretrained`, and returns the folder.
A catalog entry of kind `diffusers` whose `model_id` is that folder then runs the exact code
path a Hub checkpoint takes (from_pretrained, device, dtype, per-image generators, extras).
Used by the tests and the generation benchmark; never by a real build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aas_dataset.backends.tiny_parts import (
    HEAD_DIM,
    HEADS,
    T5_DIM,
    byte_level_clip_tokenizer,
    byte_level_qwen_tokenizer,
    seeded_init,
    tiny_clip_text_config,
)
from aas_dataset.backends.tiny_parts import flow_scheduler as _flow_scheduler
from aas_dataset.backends.tiny_parts import tiny_flux_components as flux
from aas_dataset.backends.tiny_parts import tiny_t5_encoder as _t5_encoder
from aas_dataset.backends.tiny_parts import tiny_t5_tokenizer as _t5_tokenizer
from aas_dataset.backends.tiny_parts import tiny_vae as _vae

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _qwen_tokenizer():
    """A byte-level BPE tokenizer in Qwen2's format (no merges: one token per byte)."""
    return byte_level_qwen_tokenizer(["<|im_start|>", "<|im_end|>"], _CHAT_TEMPLATE)


def sd3() -> dict[str, Any]:
    from diffusers import SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    tok = byte_level_clip_tokenizer()
    cfg = {**tiny_clip_text_config(tok), "hidden_size": 16, "intermediate_size": 37, "projection_dim": 16}
    tok3 = _t5_tokenizer()
    return {
        "tokenizer": tok,
        "text_encoder": CLIPTextModelWithProjection(CLIPTextConfig(**cfg)),
        "tokenizer_2": byte_level_clip_tokenizer(),
        "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**cfg)),
        "tokenizer_3": tok3,
        "text_encoder_3": _t5_encoder(tok3),
        "transformer": SD3Transformer2DModel(
            sample_size=16,
            patch_size=1,
            in_channels=4,
            out_channels=4,
            num_layers=2,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            joint_attention_dim=T5_DIM,
            caption_projection_dim=HEADS * HEAD_DIM,
            pooled_projection_dim=32,
            pos_embed_max_size=32,
        ),
        "vae": _vae(4, shift_factor=0.0609, scaling_factor=1.5035),
        "scheduler": _flow_scheduler(shift=3.0),
    }


def sdxl() -> dict[str, Any]:
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tok = byte_level_clip_tokenizer()
    cfg = {**tiny_clip_text_config(tok), "projection_dim": 32}
    return {
        "tokenizer": tok,
        "text_encoder": CLIPTextModel(CLIPTextConfig(**cfg)),
        "tokenizer_2": byte_level_clip_tokenizer(),
        "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**cfg)),
        "unet": UNet2DConditionModel(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=16,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 1),
            projection_class_embeddings_input_dim=6 * 8 + 32,
            cross_attention_dim=64,
            norm_num_groups=16,
        ),
        "vae": _vae(4, scaling_factor=0.13025),
        "scheduler": EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        ),
    }


def _qwen3_causal_lm(tokenizer):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=28,  # the pipeline stacks hidden layers 9, 18 and 27
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
    )
    return Qwen3ForCausalLM(cfg)


def z_image() -> dict[str, Any]:
    from diffusers import ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    tok = _qwen_tokenizer()
    cfg = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
    )
    return {
        "tokenizer": tok,
        "text_encoder": Qwen3Model(cfg),
        "transformer": ZImageTransformer2DModel(
            all_patch_size=(2,),
            all_f_patch_size=(1,),
            in_channels=4,
            dim=32,
            n_layers=1,
            n_refiner_layers=1,
            n_heads=2,
            n_kv_heads=2,
            cap_feat_dim=32,
            axes_dims=[4, 6, 6],
            axes_lens=[512, 32, 32],
        ),
        "vae": _vae(4, shift_factor=0.0609, scaling_factor=1.5035),
        "scheduler": _flow_scheduler(),
    }


def flux2_klein() -> dict[str, Any]:
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel

    tok = _qwen_tokenizer()
    return {
        "tokenizer": tok,
        "text_encoder": _qwen3_causal_lm(tok),
        "transformer": Flux2Transformer2DModel(
            patch_size=1,
            in_channels=16,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            joint_attention_dim=3 * 32,  # three stacked Qwen3 hidden layers
            timestep_guidance_channels=32,
            axes_dims_rope=(4, 4, 4, 4),
            guidance_embeds=False,
        ),
        "vae": AutoencoderKLFlux2(
            block_out_channels=(16, 16),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=32,
        ),
        "scheduler": _flow_scheduler(),
        "is_distilled": True,
    }


def _qwen25_vl(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0},
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 2,
            "spatial_merge_size": 1,
            "temporal_patch_size": 1,
            "fullatt_block_indexes": [0],
        },
        vocab_size=len(tokenizer),
        hidden_size=32,
    )
    return Qwen2_5_VLForConditionalGeneration(cfg)


def qwen_image() -> dict[str, Any]:
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel

    tok = _qwen_tokenizer()
    return {
        "tokenizer": tok,
        "text_encoder": _qwen25_vl(tok),
        "transformer": QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=16,
            out_channels=4,
            num_layers=2,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            joint_attention_dim=32,
            axes_dims_rope=(4, 6, 6),
        ),
        "vae": AutoencoderKLQwenImage(
            base_dim=8,
            z_dim=4,
            dim_mult=[1, 2],
            num_res_blocks=1,
            temperal_downsample=[False],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        ),
        "scheduler": _flow_scheduler(),
    }


def longcat_image() -> dict[str, Any]:
    from diffusers import LongCatImageTransformer2DModel

    tok = _qwen_tokenizer()
    return {
        "tokenizer": tok,
        "text_encoder": _qwen25_vl(tok),
        # Used only by the built-in prompt rewrite, which the catalog keeps off (its video
        # processor needs torchvision).
        "text_processor": None,
        "transformer": LongCatImageTransformer2DModel(
            patch_size=1,
            in_channels=64,  # the pipeline packs 16 latent channels 2x2
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 6, 6],
        ),
        "vae": _vae(16, shift_factor=0.0609, scaling_factor=1.5035),
        "scheduler": _flow_scheduler(),
    }


def glm_image() -> dict[str, Any]:
    """GLM-Image: an autoregressive prior (GlmImageForConditionalGeneration) writes image tokens
    that condition a DiT. The tokenizer's first ids are the vision vocabulary (the last two
    start and end an image), as in the real checkpoint; generation never stops early because
    its end id is a text token the vision head cannot emit."""
    from diffusers import AutoencoderKL, GlmImageTransformer2DModel
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        ByT5Tokenizer,
        GlmImageConfig,
        GlmImageForConditionalGeneration,
        GlmImageImageProcessorPil,
        GlmImageProcessor,
        Qwen2Tokenizer,
        T5Config,
        T5EncoderModel,
    )

    v = 64  # vision vocabulary
    vocab = {f"<|v{i}|>": i for i in range(v - 2)}
    vocab["<|image_start|>"], vocab["<|image_end|>"] = v - 2, v - 1
    for sym in sorted(ByteLevel.alphabet()):
        vocab[sym] = len(vocab)
    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        bos_token="<|image_start|>",
        eos_token="<|image_end|>",
        pad_token="<|image_end|>",
        extra_special_tokens={"image_token": "<|image|>", "grid_bos_token": "<sop>", "grid_eos_token": "<eop>"},
    )
    template = (
        "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}"
        "{% endif %}{% endfor %}{% endfor %}"
    )
    processor = GlmImageProcessor(
        image_processor=GlmImageImageProcessorPil(patch_size=2, merge_size=1, temporal_patch_size=1),
        tokenizer=tok,
        chat_template=template,
    )
    end = len(tok) - 1
    cfg = GlmImageConfig(
        text_config={
            "vocab_size": len(tok),
            "vision_vocab_size": v,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 1024,
            "eos_token_id": end,
            "pad_token_id": end,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
        },
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "patch_size": 2},
        vq_config={"embed_dim": 8, "latent_channels": 16, "num_embeddings": v},
        image_token_id=tok.convert_tokens_to_ids("<|image|>"),
        image_start_token_id=v - 2,
        image_end_token_id=v - 1,
    )
    vlm = GlmImageForConditionalGeneration(cfg)
    vlm.generation_config.eos_token_id = vlm.generation_config.pad_token_id = end
    byt5 = ByT5Tokenizer()
    glyph = T5EncoderModel(
        T5Config(
            vocab_size=len(byt5),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
        )
    )
    return {
        "tokenizer": byt5,
        "processor": processor,
        "text_encoder": glyph,
        "vision_language_encoder": vlm,
        # 8x VAE: the DiT's token grid (image / 16) must match the upsampled prior grid (image / 32 x 2)
        "vae": AutoencoderKL(
            block_out_channels=[8, 8, 8, 8],
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4,
            norm_num_groups=4,
            layers_per_block=1,
            scaling_factor=1.0,
            shift_factor=0.0,
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        ),
        "transformer": GlmImageTransformer2DModel(
            patch_size=2,
            in_channels=4,
            out_channels=4,
            num_layers=1,
            attention_head_dim=8,
            num_attention_heads=2,
            text_embed_dim=32,
            time_embed_dim=16,
            condition_dim=8,
            prior_vq_quantizer_codebook_size=v,
        ),
        "scheduler": _flow_scheduler(),
    }


BUILDERS = {
    "GlmImagePipeline": glm_image,
    "QwenImagePipeline": qwen_image,
    "LongCatImagePipeline": longcat_image,
    "FluxPipeline": flux,
    "StableDiffusion3Pipeline": sd3,
    "StableDiffusionXLPipeline": sdxl,
    "ZImagePipeline": z_image,
    "Flux2KleinPipeline": flux2_klein,
}


def build_tiny_pipeline(cls_name: str, weights_seed: int = 0):
    import diffusers

    if cls_name not in BUILDERS:
        raise KeyError(f"no tiny build for {cls_name!r}; have {', '.join(sorted(BUILDERS))}")
    with seeded_init(weights_seed):
        components = BUILDERS[cls_name]()
    for c in components.values():
        if hasattr(c, "eval"):  # freshly built modules are in training mode (dropout on)
            c.eval()
    return getattr(diffusers, cls_name)(**components)


def save_tiny_pipeline(cls_name: str, folder: Path, weights_seed: int = 0) -> Path:
    """Build and save once; a folder that already holds the checkpoint is reused."""
    folder = Path(folder)
    if not (folder / "model_index.json").exists():
        pipe = build_tiny_pipeline(cls_name, weights_seed)
        tmp = folder.with_name(folder.name + ".tmp")
        pipe.save_pretrained(tmp)
        tmp.rename(folder)
    return folder
