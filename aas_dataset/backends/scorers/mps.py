"""MPS, the Multi-dimensional Preference Score (Kwai-Kolors/MPS, "overall" model), on
transformers' CLIP ViT-H/14 plus a condition-aware cross model (github.com/Kwai-Kolors/MPS).

Score of (image, prompt), per sample as the official evaluation (which ran one image at a time):
1. prompt tokens -> CLIP text tower -> projected token features T [77, D] and projected EOS E;
   the condition text (the fixed aspect list) -> projected token features C [77, D];
   image -> vision tower -> projected patch tokens without post-LayerNorm V [257, D];
2. s_i = max_j <T_i, C_j>, divided by the sample's own maximum; mask_i = 0 if s_i > threshold
   else -inf (threshold 0.3 as in the evaluation scripts);
3. F = cross_model(V, T, mask)[0]; score = exp(logit_scale) * cos(E, F).
The cross model is four layers of [pre-LN multi-query cross-attention with a parallel SwiGLU
feed-forward, pre-LN parallel attention + SwiGLU block with rotary positions], written here from
the published architecture with the state-dict names of the released checkpoint.

Weights: only converted safetensors are read (`aas convert-mps` turns the released whole-module
pickle into them in a separate process, on explicit request). The condition text is read from
the official evaluation script at run time (parsed, not executed) and hash-checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import TextDefinedSettings, TorchScorer
from aas_dataset.backends.scorers.weights import weights_file
from aas_dataset.backends.tiny_parts import byte_level_clip_tokenizer, seeded_init
from aas_dataset.spec.official_texts import OfficialTextError, Recorded, check, fetch_text, official_cache

MPS_COMMIT = "ae290c23d5f972a42b6113683bf8f39a083181f3"
MPS_SCRIPT = "https://raw.githubusercontent.com/Kwai-Kolors/MPS/{commit}/eval_overall_mps_on_hpdv2.py"
CONDITION = Recorded("condition", 182, "b9d60155529e0ad3")
STAND_IN_CONDITION = "overall look, detail, colour, composition"  # tiny weights only (`texts: ours`)


def _torch_modules():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class BiasFreeLayerNorm(nn.Module):
        """LayerNorm with a learned scale and a fixed zero shift (kept as a buffer, as saved)."""

        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))
            self.register_buffer("bias", torch.zeros(dim))

        def forward(self, x):
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias)

    def swiglu(x):
        a, gate = x.chunk(2, dim=-1)
        return F.silu(gate) * a

    class SwiGLU(nn.Module):
        def forward(self, x):
            return swiglu(x)

    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x, *args):
            return x + self.fn(x, *args)

    class CrossAttention(nn.Module):
        """Image queries attend to text tokens through one shared key/value head."""

        def __init__(self, dim, dim_head, heads, ff_mult):
            super().__init__()
            self.heads, self.dim_head = heads, dim_head
            self.norm = BiasFreeLayerNorm(dim)
            self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
            self.to_kv = nn.Linear(dim, 2 * dim_head, bias=False)
            self.to_out = nn.Linear(heads * dim_head, dim, bias=False)
            self.ff = nn.Sequential(
                nn.Linear(dim, 2 * ff_mult * dim, bias=False), SwiGLU(), nn.Linear(ff_mult * dim, dim, bias=False)
            )

        def forward(self, x, context, mask):
            x = self.norm(x)
            b, n, _ = x.shape
            q = self.to_q(x).view(b, n, self.heads, self.dim_head).transpose(1, 2) * self.dim_head**-0.5
            k, v = self.to_kv(context).chunk(2, dim=-1)
            logits = torch.einsum("bhid,bjd->bhij", q, k) + mask[:, None]
            attn = (logits - logits.amax(-1, keepdim=True)).softmax(-1)
            out = torch.einsum("bhij,bjd->bhid", attn, v).transpose(1, 2).reshape(b, n, -1)
            return self.to_out(out) + self.ff(x)

    class Rotary(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

        def forward(self, n, device):
            freqs = torch.outer(torch.arange(n, device=device, dtype=self.inv_freq.dtype), self.inv_freq)
            return torch.cat([freqs, freqs], dim=-1)

    def rotate(pos, t):
        half = t.shape[-1] // 2
        rotated = torch.cat([-t[..., half:], t[..., :half]], dim=-1)
        return t * pos.cos() + rotated * pos.sin()

    class ParallelBlock(nn.Module):
        """Attention (multi-query, rotary) and a SwiGLU feed-forward from one fused projection."""

        def __init__(self, dim, dim_head, heads, ff_mult):
            super().__init__()
            self.heads, self.dim_head = heads, dim_head
            self.split = (heads * dim_head, dim_head, dim_head, 2 * ff_mult * dim)
            self.norm = BiasFreeLayerNorm(dim)
            self.rotary_emb = Rotary(dim_head)
            self.fused_attn_ff_proj = nn.Linear(dim, sum(self.split), bias=False)
            self.attn_out = nn.Linear(heads * dim_head, dim, bias=False)
            self.ff_out = nn.Sequential(SwiGLU(), nn.Linear(ff_mult * dim, dim, bias=False))

        def forward(self, x):
            x = self.norm(x)
            b, n, _ = x.shape
            q, k, v, ff = self.fused_attn_ff_proj(x).split(self.split, dim=-1)
            q = q.view(b, n, self.heads, self.dim_head).transpose(1, 2)
            pos = self.rotary_emb(n, x.device)
            q, k = rotate(pos, q) * self.dim_head**-0.5, rotate(pos, k)
            logits = torch.einsum("bhid,bjd->bhij", q, k)
            attn = (logits - logits.amax(-1, keepdim=True)).softmax(-1)
            out = torch.einsum("bhij,bjd->bhid", attn, v).transpose(1, 2).reshape(b, n, -1)
            return self.attn_out(out) + self.ff_out(ff)

    class CrossModel(nn.Module):
        def __init__(self, dim, layer_num=4, dim_head=64, heads=16, ff_mult=4):
            super().__init__()
            self.layers = nn.ModuleList(
                nn.ModuleList(
                    [
                        Residual(CrossAttention(dim, dim_head, heads, ff_mult)),
                        Residual(ParallelBlock(dim, dim_head, heads, ff_mult)),
                    ]
                )
                for _ in range(layer_num)
            )

        def forward(self, query, context, mask):
            for cross, block in self.layers:
                query = block(cross(query, context, mask))
            return query

    return CrossModel


def condition_from_source(source: str, where: str) -> str:
    """The condition string assigned in the official evaluation script (`condition = "..."`)."""
    for node in ast.walk(ast.parse(source)):
        is_str = (
            isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        )
        if is_str and any(isinstance(t, ast.Name) and t.id == "condition" for t in node.targets):
            return check(node.value.value, CONDITION, where)
    raise OfficialTextError(f"{where}: no `condition = ...` string found")


class Settings(TextDefinedSettings):
    weights: str = "MPS_overall.safetensors"  # converted by `aas convert-mps`; path or file in model_id
    clip_config_id: str = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"  # config, tokenizer, image processor
    # the official eval script; default: fetched at the pinned commit (hash-checked, so not in unit keys)
    condition_source: str | None = Field(default=None, exclude=True)
    commit: str = MPS_COMMIT
    threshold: float = Field(default=0.3, gt=0, lt=1)
    dtype: str = "float16"


class MPSScorer(TorchScorer):
    Settings = Settings
    VERSION = 1

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        if stand_in := settings.stand_in_sources("MPS condition"):
            return stand_in
        where = f"Kwai-Kolors/MPS@{settings.commit[:7]}:eval_overall_mps_on_hpdv2.py"
        return [
            {"text": "MPS condition", "source": where, "length": CONDITION.length, "sha256": CONDITION.sha256_prefix}
        ]

    def load_model(self) -> None:
        import torch
        from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

        s = self.settings
        self.condition = self._condition()
        CrossModel = _torch_modules()
        if s.tiny:
            from aas_dataset.backends.tiny_parts import TINY_VISION, tiny_clip_text_config

            self.tokenizer = byte_level_clip_tokenizer()
            cfg = CLIPConfig(
                text_config={**tiny_clip_text_config(self.tokenizer), "hidden_act": "gelu"},
                vision_config={**TINY_VISION, "hidden_act": "gelu"},
                projection_dim=32,
            )
            self.processor = CLIPImageProcessorPil(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
            with seeded_init(s.weights_seed):
                self.model = CLIPModel(cfg)
                self.cross_model = CrossModel(32, layer_num=2, dim_head=8, heads=4, ff_mult=4)
        else:
            from safetensors.torch import load_file

            self.tokenizer = CLIPTokenizer.from_pretrained(s.clip_config_id)
            self.processor = CLIPImageProcessorPil.from_pretrained(s.clip_config_id)
            self.model = CLIPModel(CLIPConfig.from_pretrained(s.clip_config_id))
            self.cross_model = CrossModel(self.model.config.projection_dim, layer_num=4, dim_head=64, heads=16)
            label = f"scorer {self.name!r} (convert the release with `aas convert-mps`)"
            sd = load_file(weights_file(s.weights, self.model_id, self.revision, label))
            self.load_converted(sd)
        # fp16 as released on GPUs; CPUs lack fast fp16 kernels, so fp32 there
        dtype = getattr(torch, s.dtype) if self.device != "cpu" else torch.float32
        self.model.eval().to(self.device, dtype)
        self.cross_model.eval().to(self.device, dtype)
        self.condition_tokens = None  # the condition is the same for every prompt: encoded once, in score

    def load_converted(self, sd: dict) -> None:
        clip = {
            k[len("model.") :]: v for k, v in sd.items() if k.startswith("model.") and not k.endswith("position_ids")
        }
        cross = {k[len("cross_model.") :]: v for k, v in sd.items() if k.startswith("cross_model.")}
        self.model.load_state_dict(clip, strict=True)
        self.cross_model.load_state_dict(cross, strict=True)
        self.condition_tokens = None  # encoded by the old weights

    def _condition(self) -> str:
        s = self.settings
        if s.texts == "ours":
            return STAND_IN_CONDITION
        if s.condition_source:
            return condition_from_source(Path(s.condition_source).read_text(), s.condition_source)
        url = MPS_SCRIPT.format(commit=s.commit)
        target = official_cache(self.cache_dir) / "mps" / s.commit / "eval_overall_mps_on_hpdv2.py"
        return condition_from_source(fetch_text(url, target, "give settings.condition_source"), url)

    def _text(self, texts):
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=77, return_tensors="pt")
        out = self.model.text_model(input_ids=enc["input_ids"].to(self.device))  # no attention mask, as released
        proj = self.model.text_projection
        tokens = proj(out.last_hidden_state)
        return tokens, proj(out.pooler_output)

    def score(self, images, prompts) -> np.ndarray:
        import torch

        s = self.settings
        with torch.inference_mode():
            t_tok, t_eos = self._text(prompts)
            if self.condition_tokens is None:
                self.condition_tokens, _ = self._text([self.condition])
            c_tok = self.condition_tokens.expand(len(prompts), -1, -1)
            dtype = next(self.model.parameters()).dtype
            pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device, dtype)
            v = self.model.visual_projection(self.model.vision_model(pixel_values=pixels).last_hidden_state)
            sim = torch.einsum("bid,bjd->bji", t_tok, c_tok).amax(dim=1, keepdim=True)  # [B, 1, 77]
            sim = sim / sim.amax(dim=(1, 2), keepdim=True)  # per sample (the official ran B = 1)
            mask = torch.where(sim > s.threshold, 0.0, float("-inf")).to(dtype).expand(-1, v.shape[1], -1)
            f = self.cross_model(v, t_tok, mask)[:, 0]
            f = f / f.norm(dim=-1, keepdim=True)
            e = t_eos / t_eos.norm(dim=-1, keepdim=True)
            score = self.model.logit_scale.exp() * (e * f).sum(-1)
        return score.double().cpu().numpy()
