"""CLIP image-text similarity scorer (transformers `CLIPModel`).

Score: cosine similarity of the projected embeddings (`scale: logit` multiplies by
exp(logit_scale), the PickScore-style convention). `tiny: true` builds a random-weight model
from a small config for offline runs; otherwise weights come from `model_id`@`revision`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aas_dataset.backends.base import TorchScorer, TorchSettings
from aas_dataset.backends.tiny_parts import TINY_VISION, byte_level_clip_tokenizer, seeded_init, tiny_clip_text_config


class Settings(TorchSettings):
    scale: Literal["cosine", "logit"] = "cosine"
    # where the tokenizer and image processor come from, when not the model's own repo
    processor_id: str | None = None
    # How the centre crop offset is rounded: "floor" is the transformers processor (PickScore's
    # official path); "torchvision" rounds half to even like torchvision's CenterCrop in the
    # OpenAI CLIP transform. They differ by one pixel row/column for some image sizes.
    center_crop: Literal["floor", "torchvision"] = "floor"
    # tiny models only: the activation of the checkpoint family they stand in for
    hidden_act: Literal["quick_gelu", "gelu"] = "quick_gelu"


def torchvision_resize_crop(image, shortest: int, crop: int):
    """Resize(shortest, bicubic) + CenterCrop(crop) as torchvision does them on PIL images:
    the long side truncated, the crop offset rounded half to even."""
    from PIL import Image

    im = image.convert("RGB")
    w, h = im.size
    if w <= h:
        nw, nh = shortest, int(shortest * h / w)
    else:
        nw, nh = int(shortest * w / h), shortest
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = int(round((nw - crop) / 2.0)), int(round((nh - crop) / 2.0))
    return im.crop((left, top, left + crop, top + crop))


def _embedding(out):
    # transformers 5 returns a BaseModelOutputWithPooling; 4.x returned the tensor itself.
    return getattr(out, "pooler_output", out)


class ClipScorer(TorchScorer):
    Settings = Settings
    VERSION = 1

    def load_model(self) -> None:
        import torch
        from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

        try:  # the PIL backend matches the original (PIL bicubic) preprocessing exactly
            from transformers import CLIPImageProcessorPil as ImageProcessor
        except ImportError:  # transformers 4.x: the slow processor is the PIL one
            from transformers import CLIPImageProcessor as ImageProcessor

        s = self.settings
        if s.tiny:
            self.tokenizer = byte_level_clip_tokenizer()
            config = CLIPConfig(
                text_config={**tiny_clip_text_config(self.tokenizer), "hidden_act": s.hidden_act},
                vision_config={**TINY_VISION, "hidden_act": s.hidden_act},
                projection_dim=16,
            )
            with seeded_init(s.weights_seed):
                self.model = CLIPModel(config)
            self.processor = ImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
        else:
            kw = {"revision": self.revision} if self.revision else {}
            self.model = CLIPModel.from_pretrained(self.model_id, dtype=torch.float32, **kw)
            proc_id, proc_kw = (s.processor_id, {}) if s.processor_id else (self.model_id, kw)
            self.tokenizer = CLIPTokenizer.from_pretrained(proc_id, **proc_kw)
            self.processor = ImageProcessor.from_pretrained(proc_id, **proc_kw)
        self.model.eval().to(self.device)

    def score(self, images, prompts) -> np.ndarray:
        import torch

        with torch.inference_mode():
            text = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=77, return_tensors="pt").to(
                self.device
            )
            if self.settings.center_crop == "torchvision":
                crop = self.processor.crop_size["height"]
                shortest = self.processor.size["shortest_edge"]
                images = [torchvision_resize_crop(im, shortest, crop) for im in images]
                pixels = self.processor(
                    images=list(images), do_resize=False, do_center_crop=False, return_tensors="pt"
                )["pixel_values"]
            else:
                pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
            img = _embedding(self.model.get_image_features(pixel_values=pixels.to(self.device)))
            txt = _embedding(self.model.get_text_features(**text))
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            cos = (img * txt).sum(-1)
            if self.settings.scale == "logit":
                cos = cos * self.model.logit_scale.exp()
        return cos.double().cpu().numpy()
