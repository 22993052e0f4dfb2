"""HPSv3 (MizzenAI/HPSv3): a Qwen2-VL-7B reward model, ported onto transformers 5's
`Qwen2VLForConditionalGeneration` (the released package: hpsv3 1.0.0 on PyPI).

Why a port: `hpsv3==1.0.0` pins transformers 4.45.2 and imports a training stack. The port
keeps what defines the score:
- one user turn per (image, prompt): the image first, then the official instruction formatted
  with the prompt and the official suffix ending in the `<|Reward|>` token; the texts are read
  from the official package at load time and hash-checked (`official_texts.hpsv3_texts`);
- the image resized with `smart_resize` (factor 28, min = max = 200,704 px) and PIL bicubic,
  then Qwen2-VL's processor (whose own resize is then a no-op);
- the language model run on the embeddings with plain positions 0..L-1 on all three M-RoPE
  axes (the official forward passes position_ids=None to the text model, not the 3-D image
  positions), never through `model.model` with input_ids=None (stale rope deltas in 5.x);
- `rm_head` in fp32 on the hidden state cast to fp32 (the official code relied on a CUDA-only
  fp32 autocast); the output at the reward token is [mu, log sigma]; mu is the score.
Weights: `HPSv3.safetensors`, with the 4.45 key layout remapped (`visual.` -> `model.visual.`,
`model.` -> `model.language_model.`) and loaded strictly. Right padding is harmless: attention
is causal and the reward token precedes the padding (tested: batch = one by one).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import TextDefinedSettings, TorchScorer
from aas_dataset.backends.scorers.qwen_vl import QWEN_SPECIALS, TINY_CHAT_TEMPLATE, expand_image_pads, vl_token_ids
from aas_dataset.backends.scorers.weights import load_checkpoint, load_exactly, weights_file
from aas_dataset.backends.tiny_parts import byte_level_qwen_tokenizer, seeded_init
from aas_dataset.spec.official_texts import (
    HPSV3_INSTRUCTION,
    HPSV3_MODULE,
    HPSV3_PACKAGE,
    HPSV3_SUFFIX,
    hpsv3_texts,
    official_cache,
)

REWARD_TOKEN = "<|Reward|>"
PIXELS = 256 * 28 * 28  # min = max pixels of the official config
# Stand-ins for tiny random weights (`texts: ours`): the same shape (prompt field, reward token last)
STAND_IN_INSTRUCTION = "Judge the picture against this prompt: {text_prompt}"
STAND_IN_SUFFIX = "\nScore: " + REWARD_TOKEN


# Vision tower of the tiny Qwen2-VL.
TINY_QWEN2VL_VISION = {
    "depth": 2,
    "embed_dim": 32,
    "hidden_size": 64,
    "num_heads": 4,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "in_channels": 3,
    "mlp_ratio": 2,
}


def remap_hpsv3_keys(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if k.startswith("visual."):
            out["model." + k] = v
        elif k.startswith("model."):
            out["model.language_model." + k[len("model.") :]] = v
        else:  # lm_head.*, rm_head.*
            out[k] = v
    return out


def rm_head(width: int):
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(width, 1024), nn.ReLU(), nn.Dropout(0.05), nn.Linear(1024, 16), nn.ReLU(), nn.Linear(16, 2)
    )


class Settings(TextDefinedSettings):
    base_id: str = "Qwen/Qwen2-VL-7B-Instruct"  # config and tokenizer of the backbone
    checkpoint: str = "HPSv3.safetensors"
    # the official hpsv3 wheel, package folder or data_collator_qwen.py; default: download the wheel
    text_source: str | None = Field(default=None, exclude=True)
    pixels: int = Field(default=PIXELS, ge=28 * 28)
    dtype: str = "bfloat16"


class HPSv3Scorer(TorchScorer):
    Settings = Settings
    VERSION = 1
    outputs = ("", "log_sigma")

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        if stand_in := settings.stand_in_sources("HPSv3 instruction and suffix"):
            return stand_in
        where = f"{HPSV3_PACKAGE}:{HPSV3_MODULE}"
        return [
            {"text": f"HPSv3 {r.name}", "source": where, "length": r.length, "sha256": r.sha256_prefix}
            for r in (HPSV3_INSTRUCTION, HPSV3_SUFFIX)
        ]

    def load_model(self) -> None:
        import torch
        from transformers import Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

        s = self.settings
        if s.texts == "ours":
            self.instruction, self.suffix = STAND_IN_INSTRUCTION, STAND_IN_SUFFIX
        else:
            self.instruction, self.suffix = hpsv3_texts(s.text_source, official_cache(self.cache_dir))
        if s.tiny:
            tok, model = self._tiny()
        else:
            from transformers import AutoConfig, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(s.base_id, padding_side="right")
            tok.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})
            if tok.convert_tokens_to_ids(REWARD_TOKEN) != 151657:
                raise RuntimeError(f"scorer {self.name!r}: {REWARD_TOKEN} should get id 151657")
            config = AutoConfig.from_pretrained(s.base_id)
            config.text_config.vocab_size = len(tok)
            model = Qwen2VLForConditionalGeneration(config)
            model.rm_head = rm_head(config.text_config.hidden_size)
            path = weights_file(s.checkpoint, self.model_id, self.revision, f"scorer {self.name!r}")
            load_exactly(model, remap_hpsv3_keys(load_checkpoint(path)), f"scorer {self.name!r} (HPSv3)")
        model.to(getattr(torch, s.dtype))  # tiny weights too: the dtype path is the real one
        model.rm_head.float()
        self.tokenizer = tok
        self.reward_id = tok.convert_tokens_to_ids(REWARD_TOKEN)
        self.merge = model.config.vision_config.spatial_merge_size
        self.processor = Qwen2VLImageProcessorPil(size={"shortest_edge": s.pixels, "longest_edge": s.pixels})
        self.model = model.eval().to(self.device)

    def _tiny(self):
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

        tok = byte_level_qwen_tokenizer(QWEN_SPECIALS, TINY_CHAT_TEMPLATE, padding_side="right")
        tok.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})  # after the others, as released
        config = Qwen2VLConfig(
            text_config={
                "vocab_size": len(tok),
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "max_position_embeddings": 8192,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                "pad_token_id": tok.pad_token_id,
                "eos_token_id": tok.eos_token_id,
            },
            vision_config=TINY_QWEN2VL_VISION,
            **vl_token_ids(tok),
        )
        with seeded_init(self.settings.weights_seed):
            model = Qwen2VLForConditionalGeneration(config)
            model.rm_head = rm_head(64)
        return tok, model

    def _inputs(self, images, prompts):
        from PIL import Image
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        texts, resized = [], []
        for im, p in zip(images, prompts, strict=True):
            if REWARD_TOKEN in p:
                raise ValueError(f"prompt contains the reward token {REWARD_TOKEN!r}, which HPSv3 reads once per row")
            im = im.convert("RGB")
            h, w = smart_resize(im.height, im.width, 28, self.settings.pixels, self.settings.pixels)
            resized.append(im.resize((w, h), Image.BICUBIC))
            msg = [
                {
                    "role": "user",
                    "content": [
                        {"type": "image"},
                        {"type": "text", "text": self.instruction.format(text_prompt=p) + self.suffix},
                    ],
                }
            ]
            texts.append(self.tokenizer.apply_chat_template(msg, tokenize=False, add_generation_prompt=True))
        vis = self.processor(images=resized, return_tensors="pt")
        texts = expand_image_pads(texts, vis["image_grid_thw"], self.merge)
        text = self.tokenizer(texts, padding=True, return_tensors="pt")
        return text, vis

    def score(self, images, prompts) -> np.ndarray:
        import torch

        text, vis = self._inputs(images, prompts)
        m = self.model
        with torch.inference_mode():
            ids = text["input_ids"].to(self.device)
            embeds = m.model.get_input_embeddings()(ids)
            feats = m.model.get_image_features(
                vis["pixel_values"].to(self.device, embeds.dtype), vis["image_grid_thw"].to(self.device)
            )
            feats = torch.cat(list(getattr(feats, "pooler_output", feats)), dim=0).to(embeds.dtype)
            mask = (ids == m.config.image_token_id).unsqueeze(-1).expand_as(embeds)
            embeds = embeds.masked_scatter(mask, feats)
            hidden = m.model.language_model(
                inputs_embeds=embeds, attention_mask=text["attention_mask"].to(self.device)
            ).last_hidden_state
            out = m.rm_head(hidden.float())
            at = ids == self.reward_id
            if not bool((at.sum(-1) == 1).all()):
                raise RuntimeError("each row must hold exactly one reward token")
            mu_sigma = out[at].view(len(images), 2)
        return mu_sigma.double().cpu().numpy()
