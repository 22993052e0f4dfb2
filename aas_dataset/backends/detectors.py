"""Open-vocabulary detectors: the face crop of the emotion-generation study.

`OwlV2Detector`: transformers' OWLv2 (Owlv2ForObjectDetection), queried with a text (default
"a human face"); the best box scoring at least `threshold` is the crop, none is a named outcome
("no face"). The authors cropped with LLMDet, which transformers does not carry; OWLv2 is the
open-vocabulary detector it does. `tiny: true` builds random weights from a small config.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aas_dataset.backends.base import Detector, TorchSettings, release_memory, resolve_device


class OwlV2Settings(TorchSettings):
    threshold: float = Field(default=0.1, ge=0, le=1)


class OwlV2Detector(Detector):
    Settings = OwlV2Settings
    VERSION = 1

    def load(self) -> None:
        import torch
        from transformers import Owlv2ForObjectDetection, Owlv2Processor

        try:
            from transformers import Owlv2ImageProcessorPil as ImageProcessor
        except ImportError:  # transformers 4.x: the slow processor is the PIL one
            from transformers import Owlv2ImageProcessor as ImageProcessor
        s = self.settings
        self.device = resolve_device(s.device)
        if s.tiny:
            from transformers import Owlv2Config

            from aas_dataset.backends.tiny_parts import (
                TINY_VISION,
                byte_level_clip_tokenizer,
                seeded_init,
                tiny_clip_text_config,
            )

            tok = byte_level_clip_tokenizer()
            # the class head compares image and query embeddings: one width for both
            config = Owlv2Config(
                text_config=tiny_clip_text_config(tok),
                vision_config=TINY_VISION,
                projection_dim=TINY_VISION["hidden_size"],
            )
            with seeded_init(s.weights_seed):
                self.model = Owlv2ForObjectDetection(config)
            size = TINY_VISION["image_size"]
            self.processor = Owlv2Processor(
                image_processor=ImageProcessor(size={"height": size, "width": size}), tokenizer=tok
            )
        else:
            kw = {"revision": self.revision} if self.revision else {}
            self.model = Owlv2ForObjectDetection.from_pretrained(self.model_id, dtype=torch.float32, **kw)
            self.processor = Owlv2Processor.from_pretrained(self.model_id, **kw)
        self.model.eval().to(self.device)

    def close(self) -> None:
        self.model = None
        release_memory()

    def detect(self, images: list[Any], query: str) -> list:
        import torch

        ims = [im.convert("RGB") for im in images]
        with torch.inference_mode():
            inputs = self.processor(text=[[query]] * len(ims), images=ims, return_tensors="pt").to(self.device)
            out = self.model(**inputs)
        # OWLv2 pads each image to a square before it looks: boxes are in the padded square's frame
        sides = torch.tensor([[max(im.size)] * 2 for im in ims])
        found = self.processor.post_process_grounded_object_detection(out, threshold=0.0, target_sizes=sides)
        res: list = []
        for im, f in zip(ims, found, strict=True):
            w, h = im.size
            best = None
            # the best box that scores at the threshold and keeps some area inside the image
            for i in f["scores"].argsort(descending=True).tolist():
                score = float(f["scores"][i])
                if score < self.settings.threshold:
                    break
                x0, y0, x1, y1 = (float(v) for v in f["boxes"][i])
                box = [max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)]
                if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                    best = (box, score)
                    break
            res.append(best)
        return res
