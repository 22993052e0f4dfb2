"""Runner: CLIP cosine similarity with whatever transformers the isolated environment pins.

Used to check a native scorer against another transformers release on the same weights,
and as the smallest example of a runner. Arguments: {"model": folder or Hub id,
"scale": "cosine" | "logit"}.
"""

import json
import os


def load(args):
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(args["model"], torch_dtype=torch.float32).eval()
    cfg_path = os.path.join(args["model"], "preprocessor_config.json")
    if os.path.exists(cfg_path):  # a folder saved by another release: keep the values, drop its class name
        with open(cfg_path) as f:
            cfg = {k: v for k, v in json.load(f).items() if not k.startswith(("image_processor_type", "processor_"))}
        processor = CLIPImageProcessor(**cfg)
    else:
        processor = CLIPImageProcessor.from_pretrained(args["model"])
    return {**args, "model": model, "tok": AutoTokenizer.from_pretrained(args["model"]), "proc": processor}


def score(state, image_paths, prompts):
    import torch
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in image_paths]
    with torch.inference_mode():
        text = state["tok"](list(prompts), padding=True, truncation=True, max_length=77, return_tensors="pt")
        pixels = state["proc"](images=images, return_tensors="pt")["pixel_values"]
        img = state["model"].get_image_features(pixel_values=pixels)
        txt = state["model"].get_text_features(**text)
        img = getattr(img, "pooler_output", img)
        txt = getattr(txt, "pooler_output", txt)
        cos = (img / img.norm(dim=-1, keepdim=True) * (txt / txt.norm(dim=-1, keepdim=True))).sum(-1)
        if state.get("scale") == "logit":
            cos = cos * state["model"].logit_scale.exp()
    return [float(x) for x in cos]
