"""ImageReward (zai-org/ImageReward, formerly THUDM), ported onto transformers' BLIP modules
(the released package: image-reward 1.5 on PyPI).

Why a port: `image-reward==1.5` pins timm 0.6.13 (open_clip needs >= 1.0.17), imports OpenAI
`clip` without declaring it, and its BLIP copy imports functions transformers 5 removed.

Model: BLIP ViT-L/16 at 224 (LayerNorm eps 1e-6) -> BLIP BERT text encoder with
cross-attention to the image tokens (all-ones image mask), read at position 0 ([CLS], not
[ENC]), cast to fp32 -> a 5-layer linear MLP with no nonlinearities ->
reward = (mlp(h) - 0.16717362830052426) / 1.0333394966054072.
Text: BERT uncased, padding to max_length 35 with truncation. Image: the OpenAI CLIP
transform at 224 (PIL bicubic shortest side, centre crop, CLIP mean/std).
Weights: `ImageReward.pt` read with `torch.load(weights_only=True)`; original BLIP names are
renamed to transformers' (`imagereward_to_hf`) and loaded strictly, so no weight is silently
missed (the official loader used strict=False).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import TorchScorer, TorchSettings
from aas_dataset.backends.scorers.hps import openai_pixels
from aas_dataset.backends.scorers.weights import load_checkpoint, load_exactly, weights_file
from aas_dataset.backends.tiny_parts import seeded_init, tiny_bert_tokenizer, tiny_blip_text_config

REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072


def mlp_head(width: int):
    import torch.nn as nn

    # Linear 768->1024->128->64->16->1 with dropouts between, no activations (as released)
    return nn.Sequential(
        nn.Linear(width, 1024),
        nn.Dropout(0.2),
        nn.Linear(1024, 128),
        nn.Dropout(0.2),
        nn.Linear(128, 64),
        nn.Dropout(0.1),
        nn.Linear(64, 16),
        nn.Linear(16, 1),
    )


def imagereward_to_hf(sd: dict) -> dict:
    """ImageReward.pt names -> {vision.*, text.*, mlp.*} of this module's model."""
    out = {}
    for k, v in sd.items():
        if k.endswith("position_ids") or k.startswith(("blip.text_decoder", "blip.vision_proj", "blip.text_proj")):
            continue
        if k.startswith("mlp.layers."):
            out["mlp." + k[len("mlp.layers.") :]] = v
        elif k.startswith("blip.text_encoder."):
            out["text." + k[len("blip.text_encoder.") :]] = v
        elif k.startswith("blip.visual_encoder."):
            r = k[len("blip.visual_encoder.") :]
            for a, b in (
                ("cls_token", "embeddings.class_embedding"),
                ("pos_embed", "embeddings.position_embedding"),
                ("patch_embed.proj", "embeddings.patch_embedding"),
                ("blocks", "encoder.layers"),
                ("attn.proj", "self_attn.projection"),
                ("attn.qkv", "self_attn.qkv"),
                ("norm1", "layer_norm1"),
                ("norm2", "layer_norm2"),
                ("mlp.fc1", "mlp.fc1"),
                ("mlp.fc2", "mlp.fc2"),
            ):
                r = r.replace(a, b)
            if r.startswith("norm."):
                r = "post_layernorm." + r[len("norm.") :]
            if r == "embeddings.position_embedding":
                v = v.reshape(1, v.shape[-2], v.shape[-1]) if v.dim() == 3 else v
            out["vision." + r] = v
    return out


class Settings(TorchSettings):
    checkpoint: str = "ImageReward.pt"  # file in model_id, or a local path
    tokenizer_id: str = "google-bert/bert-base-uncased"
    max_length: int = Field(default=35, ge=1)


class ImageRewardScorer(TorchScorer):
    Settings = Settings
    VERSION = 1

    def load_model(self) -> None:
        import torch
        import torch.nn as nn
        from transformers import BertTokenizer, BlipTextConfig, BlipVisionConfig, BlipVisionModel
        from transformers.models.blip.modeling_blip_text import BlipTextModel

        s = self.settings
        if s.tiny:
            tok = tiny_bert_tokenizer()
            vision = BlipVisionConfig(
                image_size=28,
                patch_size=14,
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                layer_norm_eps=1e-6,
                initializer_range=0.02,
            )
            text = BlipTextConfig(**tiny_blip_text_config(tok))
        else:
            tok = BertTokenizer.from_pretrained(s.tokenizer_id)
            tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
            vision = BlipVisionConfig(
                image_size=224,
                patch_size=16,
                hidden_size=1024,
                intermediate_size=4096,
                num_hidden_layers=24,
                num_attention_heads=16,
                layer_norm_eps=1e-6,
            )
            text = BlipTextConfig(
                vocab_size=30524,
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                max_position_embeddings=512,
                encoder_hidden_size=1024,
            )
        self.tokenizer = tok
        with seeded_init(s.weights_seed):
            model = nn.Module()
            model.vision = BlipVisionModel(vision)
            model.text = BlipTextModel(text, add_pooling_layer=False)
            model.mlp = mlp_head(text.hidden_size)
        if not s.tiny:
            path = weights_file(s.checkpoint, self.model_id, self.revision, f"scorer {self.name!r}")
            load_exactly(model, imagereward_to_hf(load_checkpoint(path)), f"scorer {self.name!r} (ImageReward)")
        self.model = model.to(torch.float32).eval().to(self.device)
        self.size = vision.image_size

    def score(self, images, prompts) -> np.ndarray:
        import torch

        with torch.inference_mode():
            text = self.tokenizer(
                list(prompts),
                padding="max_length",
                truncation=True,
                max_length=self.settings.max_length,
                return_tensors="pt",
            ).to(self.device)
            pixels = torch.stack([openai_pixels(im, self.size) for im in images]).to(self.device)
            img = self.model.vision(pixel_values=pixels).last_hidden_state
            mask = torch.ones(img.shape[:-1], dtype=torch.long, device=self.device)
            h = (
                self.model.text(
                    input_ids=text["input_ids"],
                    attention_mask=text["attention_mask"],
                    encoder_hidden_states=img,
                    encoder_attention_mask=mask,
                )
                .last_hidden_state[:, 0]
                .float()
            )
            reward = (self.model.mlp(h).squeeze(-1) - REWARD_MEAN) / REWARD_STD
        return reward.double().cpu().numpy()
