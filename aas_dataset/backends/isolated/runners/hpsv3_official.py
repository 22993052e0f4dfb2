"""Runner: the official HPSv3 model class and preprocessing (hpsv3 1.0.0 on its pinned
transformers 4.45.2), for the parity check of our port on shared random weights.

load(args): unpacks the official wheel (`wheel`) and imports its modules without running the
package's __init__ (which would pull in the training entry points); builds a byte-level Qwen2
tokenizer from `vocab_dir` with the same special tokens as the port, a small Qwen2-VL config
(`dims`), and `Qwen2VLRewardModelBT` with the ranknet head exactly as the package's
`create_model_and_processor` does, from a seeded initialisation; saves its state dict as
safetensors to `save_to` (the released file's 4.45 key layout).
score(paths, prompts): the package's own message layout, `process_vision_info` and processor
call, then the model's forward; returns [mu, log sigma] per image.
"""

import os
import sys
import tempfile
import types
import zipfile


def _import_official(wheel):
    root = tempfile.mkdtemp(prefix="hpsv3-")
    zipfile.ZipFile(wheel).extractall(root)
    pkg = types.ModuleType("hpsv3")  # a bare package: submodules import, __init__ does not run
    pkg.__path__ = [os.path.join(root, "hpsv3")]
    sys.modules["hpsv3"] = pkg
    from hpsv3.dataset.data_collator_qwen import INSTRUCTION, prompt_with_special_token
    from hpsv3.dataset.utils import process_vision_info
    from hpsv3.model.qwen2vl_trainer import Qwen2VLRewardModelBT

    return Qwen2VLRewardModelBT, process_vision_info, INSTRUCTION, prompt_with_special_token


def load(args):
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2Tokenizer, Qwen2VLConfig, Qwen2VLImageProcessor, Qwen2VLProcessor

    model_cls, process_vision_info, instruction, suffix = _import_official(args["wheel"])
    tok = Qwen2Tokenizer(os.path.join(args["vocab_dir"], "vocab.json"), os.path.join(args["vocab_dir"], "merges.txt"))
    tok.add_special_tokens({"additional_special_tokens": args["specials"]})
    tok.add_special_tokens({"additional_special_tokens": ["<|Reward|>"]})
    tok.padding_side = "right"
    ids = {t: tok.convert_tokens_to_ids(t) for t in args["specials"] + ["<|Reward|>"]}
    d = args["dims"]
    cfg = Qwen2VLConfig(
        vocab_size=len(tok),
        hidden_size=d["hidden"],
        intermediate_size=d["intermediate"],
        num_hidden_layers=d["layers"],
        num_attention_heads=d["heads"],
        num_key_value_heads=d["kv_heads"],
        max_position_embeddings=8192,
        rope_scaling={"type": "mrope", "mrope_section": d["mrope_section"]},
        rope_theta=d.get("rope_theta", 1000000.0),
        vision_config=d["vision"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        pad_token_id=tok.pad_token_id,
        attn_implementation="sdpa",
    )
    torch.manual_seed(int(args.get("seed", 0)))
    model = model_cls(
        cfg,
        output_dim=2,
        reward_token="special",
        special_token_ids=[ids["<|Reward|>"]],
        rm_head_type="ranknet",
        rm_head_kwargs=None,
    ).eval()
    model.rm_head.to(torch.float32)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args["save_to"])
    pixels = int(args["pixels"])
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=pixels, max_pixels=pixels),
        tokenizer=tok,
        chat_template=args["chat_template"],
    )
    return {
        "model": model,
        "processor": processor,
        "vision": process_vision_info,
        "instruction": instruction,
        "suffix": suffix,
        "pixels": pixels,
    }


def score(state, image_paths, prompts):
    import torch

    px = state["pixels"]
    messages = [
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": path, "min_pixels": px, "max_pixels": px},
                    {"type": "text", "text": state["instruction"].format(text_prompt=p) + state["suffix"]},
                ],
            }
        ]
        for path, p in zip(image_paths, prompts, strict=True)
    ]
    images, _ = state["vision"](messages)
    texts = [state["processor"].apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    batch = state["processor"](text=texts, images=images, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = state["model"](**batch)["logits"]
    return [[float(x) for x in row] for row in out]
