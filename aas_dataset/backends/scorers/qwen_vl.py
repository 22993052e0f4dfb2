"""Input helpers shared by the Qwen-VL scorers (HPSv3 on Qwen2-VL, the rater J on Qwen3-VL).

Their processors need a video processor that needs torchvision, so these scorers build the
inputs themselves: the tokenizer's chat template for the text, a PIL image processor for the
pixels, and the image placeholder expanded here to one token per merged patch (what the
processors do). The tiny offline models share one tokenizer layout and chat template.
"""

from __future__ import annotations

IMAGE_PAD = "<|image_pad|>"
QWEN_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", IMAGE_PAD, "<|video_pad|>"]
# A Qwen-VL-style chat template for the tiny offline models (the real one comes with the tokenizer).
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ m['role'] }}\n"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def vl_token_ids(tokenizer) -> dict:
    """The image / video / vision-boundary token ids a Qwen-VL config names."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    return {
        "image_token_id": ids[IMAGE_PAD],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def expand_image_pads(texts: list[str], image_grid_thw, merge: int) -> list[str]:
    """Each text's one image placeholder repeated once per merged patch of its image."""
    counts = (image_grid_thw.prod(-1) // merge**2).tolist()
    # via a character no template emits, so the replacement cannot match its own output
    return [t.replace(IMAGE_PAD, "\0" * n, 1).replace("\0", IMAGE_PAD) for t, n in zip(texts, counts, strict=True)]
