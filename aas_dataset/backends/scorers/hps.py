"""HPS v1 and HPSv2 / HPSv2.1: CLIP models fine-tuned on human preferences, ported natively
onto transformers' `CLIPModel` (the released hpsv2 1.2.0 package and align_sd's HPS v1).

Why a port and not the official packages: `hpsv2==1.2.0`'s wheel lacks its BPE file and pins
pytest/protobuf; HPS v1 has no package at all. The checkpoints are open_clip / OpenAI-CLIP
state dicts (`{'state_dict': ...}`), loaded with `torch.load(weights_only=True)` and renamed
to transformers' CLIP names by `openclip_to_hf` (fused attention projections split into q/k/v,
projection matrices transposed). The score is the cosine of the normalised embeddings
(no logit scale), as in the official code.

Preprocessing, each as its official code does it:
- HPSv2 (`transform: hpsv2`): ToTensor first, then a *tensor* bicubic resize of the longest side
  to 224 (antialias on, as torchvision >= 0.17 does; `antialias: false` reproduces older
  torchvision), zero padding to a square (left/top get the smaller half), CLIP mean/std. A
  longest side already at 224 is neither resized nor padded (the official quirk).
- HPS v1 (`transform: openai`): the OpenAI CLIP transform on PIL (bicubic shortest side,
  centre crop with torchvision's rounding).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aas_dataset.backends.base import TorchScorer, TorchSettings
from aas_dataset.backends.scorers.clip import torchvision_resize_crop
from aas_dataset.backends.scorers.weights import load_checkpoint, load_exactly, weights_file
from aas_dataset.backends.tiny_parts import byte_level_clip_tokenizer, seeded_init

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

# open_clip model configs as transformers CLIPConfig fields.
ARCHITECTURES = {
    "ViT-H-14": {
        "projection_dim": 1024,
        "vision": {
            "hidden_size": 1280,
            "num_hidden_layers": 32,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 224,
            "intermediate_size": 5120,
        },
        "text": {
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "intermediate_size": 4096,
            "vocab_size": 49408,
        },
        "act": "gelu",
    },
    "ViT-L-14-quickgelu": {
        "projection_dim": 768,
        "vision": {
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "patch_size": 14,
            "image_size": 224,
            "intermediate_size": 4096,
        },
        "text": {
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "vocab_size": 49408,
        },
        "act": "quick_gelu",
    },
    # a tiny open_clip-shaped model (offline tests)
    "tiny": {
        "projection_dim": 16,
        "vision": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "patch_size": 14,
            "image_size": 28,
            "intermediate_size": 128,
        },
        "text": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
            "vocab_size": 49408,
        },
        "act": "gelu",
    },
}


def clip_config(arch: str, act: str | None = None, vocab_size: int | None = None, eos: int = 49407):
    from transformers import CLIPConfig

    a = ARCHITECTURES[arch]
    act = act or a["act"]
    text = {
        **a["text"],
        "max_position_embeddings": 77,
        "hidden_act": act,
        "layer_norm_eps": 1e-5,
        "bos_token_id": eos - 1,
        "eos_token_id": eos,
        "pad_token_id": 0,
    }
    if vocab_size:
        text["vocab_size"] = vocab_size
    vision = {**a["vision"], "hidden_act": act, "layer_norm_eps": 1e-5}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=a["projection_dim"])


def openclip_to_hf(sd: dict) -> dict:
    """open_clip / OpenAI-CLIP state dict -> transformers CLIPModel state dict."""
    out = {}
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    for k, v in sd.items():
        if k == "attn_mask" or k.endswith(".attn_mask"):
            continue  # the causal mask is a buffer in open_clip, built on the fly in transformers
        if k == "logit_scale":
            out[k] = v
            continue
        tower, rest = ("vision_model", k[len("visual.") :]) if k.startswith("visual.") else ("text_model", k)
        simple = {
            "class_embedding": "embeddings.class_embedding",
            "positional_embedding": "embeddings.position_embedding.weight",
            "conv1.weight": "embeddings.patch_embedding.weight",
            "token_embedding.weight": "embeddings.token_embedding.weight",
        }
        if rest in simple:
            out[f"{tower}.{simple[rest]}"] = v
        elif rest == "proj":
            out["visual_projection.weight"] = v.t().contiguous()
        elif rest == "text_projection":
            out["text_projection.weight"] = v.t().contiguous()
        elif rest.startswith(("ln_pre.", "ln_post.", "ln_final.")):
            name, p = rest.split(".", 1)
            new = {"ln_pre": "pre_layrnorm", "ln_post": "post_layernorm", "ln_final": "final_layer_norm"}[name]
            out[f"{tower}.{new}.{p}"] = v
        elif rest.startswith("transformer.resblocks."):
            i, sub = rest[len("transformer.resblocks.") :].split(".", 1)
            base = f"{tower}.encoder.layers.{i}"
            if sub in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = sub.rsplit("_", 1)[1]
                for name, part in zip(("q_proj", "k_proj", "v_proj"), v.chunk(3, dim=0), strict=True):
                    out[f"{base}.self_attn.{name}.{kind}"] = part.contiguous()
            else:
                mapping = {
                    "attn.out_proj.": "self_attn.out_proj.",
                    "ln_1.": "layer_norm1.",
                    "ln_2.": "layer_norm2.",
                    "mlp.c_fc.": "mlp.fc1.",
                    "mlp.c_proj.": "mlp.fc2.",
                }
                pre = next((p for p in mapping if sub.startswith(p)), None)
                if pre is None:
                    raise KeyError(f"unexpected open_clip key {k!r}")
                out[f"{base}.{mapping[pre]}{sub[len(pre) :]}"] = v
        else:
            raise KeyError(f"unexpected open_clip key {k!r}")
    return out


def hpsv2_pixels(image, size: int = 224, antialias: bool = True):
    """HPSv2's evaluation transform (light_augmentation): ToTensor, longest side to `size` with
    a tensor bicubic resize, zero pad to square, normalise."""
    import torch
    import torch.nn.functional as F

    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1)
    h, w = x.shape[1:]
    scale = size / max(h, w)
    if scale != 1.0:
        nh, nw = round(h * scale), round(w * scale)
        x = F.interpolate(x[None], size=(nh, nw), mode="bicubic", align_corners=False, antialias=antialias)[0]
        pad_h, pad_w = size - nh, size - nw
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x - mean) / std


def openai_pixels(image, size: int = 224):
    import torch

    im = torchvision_resize_crop(image, size, size)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


class Settings(TorchSettings):
    architecture: Literal["ViT-H-14", "ViT-L-14-quickgelu", "tiny"]
    transform: Literal["hpsv2", "openai"]
    # "repo/id:filename" on the Hub, or a local path (.pt / .pth / .safetensors)
    checkpoint: str | None = None
    # where the CLIP BPE tokenizer comes from (same vocabulary as open_clip's SimpleTokenizer)
    tokenizer_id: str = "openai/clip-vit-large-patch14"
    antialias: bool = True
    batch_preprocess_threads: int = 0  # 0: preprocess in the calling thread


class HPSScorer(TorchScorer):
    Settings = Settings
    VERSION = 1

    def load_model(self) -> None:
        import torch
        from transformers import CLIPModel, CLIPTokenizer

        s = self.settings
        if s.tiny:
            self.tokenizer = byte_level_clip_tokenizer()
            vocab = self.tokenizer.get_vocab()
            config = clip_config(s.architecture, vocab_size=len(vocab), eos=vocab["<|endoftext|>"])
            with seeded_init(s.weights_seed):
                self.model = CLIPModel(config)
        else:
            if not s.checkpoint:
                raise RuntimeError(
                    f"scorer {self.name!r}: settings.checkpoint is required (HPS v1's hpc.pt is distributed "
                    "on OneDrive only: download it and give its path)"
                )
            self.tokenizer = CLIPTokenizer.from_pretrained(s.tokenizer_id)
            self.model = CLIPModel(clip_config(s.architecture))
        if s.checkpoint:
            path = weights_file(s.checkpoint, None, self.revision, f"scorer {self.name!r}")
            load_exactly(self.model, openclip_to_hf(load_checkpoint(path)), f"scorer {self.name!r} ({s.architecture})")
        self.model.to(dtype=torch.float32).eval().to(self.device)
        self.size = self.model.config.vision_config.image_size

    def pixels(self, images):
        import torch

        s = self.settings
        if s.transform == "hpsv2":
            return torch.stack([hpsv2_pixels(im, self.size, s.antialias) for im in images])
        return torch.stack([openai_pixels(im, self.size) for im in images])

    def score(self, images, prompts) -> np.ndarray:
        import torch

        with torch.inference_mode():
            text = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=77, return_tensors="pt")
            img = self.model.get_image_features(pixel_values=self.pixels(images).to(self.device))
            txt = self.model.get_text_features(**text.to(self.device))
            img, txt = getattr(img, "pooler_output", img), getattr(txt, "pooler_output", txt)
            cos = (img / img.norm(dim=-1, keepdim=True) * (txt / txt.norm(dim=-1, keepdim=True))).sum(-1)
        return cos.double().cpu().numpy()
