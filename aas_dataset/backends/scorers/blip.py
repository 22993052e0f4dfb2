"""BLIP image-text matching scorer (transformers `BlipForImageTextRetrieval`, ITM head).

Outputs: the match logit (index 1 of the ITM head) as the score and the no-match logit
(index 0) as `neg`, so the 2x2 logits of the published data and the match probability
softmax([neg, pos])[1] can be recomputed. The text is not truncated, as in the authors'
scoring (the HF processor called without truncation; most p_a are longer than the 35 tokens the
original BLIP code kept): `max_length: 35` restores that cut. Images are squashed to the
processor's square size with PIL bicubic.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from aas_dataset.backends.base import TorchScorer, TorchSettings
from aas_dataset.backends.tiny_parts import TINY_VISION, seeded_init, tiny_bert_tokenizer, tiny_blip_text_config


class Settings(TorchSettings):
    max_length: int | None = Field(default=None, ge=1)  # None: no truncation (the paper's scoring)


class BlipItmScorer(TorchScorer):
    Settings = Settings
    VERSION = 2  # 2: text not truncated by default (the paper scored untruncated p_a)
    outputs = ("", "neg")

    def load_model(self) -> None:
        import torch
        from transformers import BlipConfig, BlipForImageTextRetrieval, BlipImageProcessorPil, BlipProcessor

        s = self.settings
        if s.tiny:
            self.tokenizer = tiny_bert_tokenizer()
            config = BlipConfig(
                text_config=tiny_blip_text_config(self.tokenizer),
                # BLIP's vision default initializer_range is 1e-10: random tiny weights would
                # then ignore the image entirely
                vision_config={**TINY_VISION, "initializer_range": 0.02},
                image_text_hidden_size=16,
                projection_dim=16,
            )
            with seeded_init(s.weights_seed):
                self.model = BlipForImageTextRetrieval(config)
            self.processor = BlipImageProcessorPil(size={"height": 30, "width": 30})
        else:
            kw = {"revision": self.revision} if self.revision else {}
            self.model = BlipForImageTextRetrieval.from_pretrained(self.model_id, dtype=torch.float32, **kw)
            proc = BlipProcessor.from_pretrained(self.model_id, **kw)
            self.tokenizer = proc.tokenizer
            self.processor = BlipImageProcessorPil.from_pretrained(self.model_id, **kw)
        self.model.eval().to(self.device)

    def score(self, images, prompts) -> np.ndarray:
        import torch

        with torch.inference_mode():
            text = self.tokenizer(
                list(prompts),
                padding="longest",
                truncation=self.settings.max_length is not None,
                max_length=self.settings.max_length,
                return_tensors="pt",
            ).to(self.device)
            pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
            logits = self.model(
                input_ids=text["input_ids"],
                attention_mask=text["attention_mask"],
                pixel_values=pixels,
                use_itm_head=True,
            ).itm_score
        return np.stack([logits[:, 1].double().cpu().numpy(), logits[:, 0].double().cpu().numpy()], axis=1)
