"""Runner: the official ImageReward package (image-reward 1.5 with its pinned timm), for the
parity check of our port on shared random weights.

load(args): writes a BERT vocabulary of `vocab_size` entries (the released tokenizer's size;
its contents do not matter as both sides read the same file) to `vocab_dir`, makes the package's
tokenizer read it instead of downloading bert-base-uncased, builds `ImageReward` from a
`med_config` (BERT-base text tower with cross-attention to the ViT-L) with a seeded
initialisation, and saves its state dict to `save_to` (the layout of the released
ImageReward.pt). score(paths, prompts): the package's own one-image `score(prompt, path)`.
"""

import json
import os


def _vocab(path, size):
    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-")
    words = [
        "a",
        "the",
        "of",
        "dark",
        "bright",
        "cat",
        "beach",
        "alley",
        "night",
        "at",
        "blurry",
        "fog",
        "over",
        "lake",
        "old",
        "torn",
        "photo",
        "an",
    ]
    tokens = specials + chars + words + [f"##{c}" for c in chars]
    tokens += [f"[filler{i}]" for i in range(size - len(tokens))]
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")


def load(args):
    import torch
    from transformers import BertTokenizer

    os.makedirs(args["vocab_dir"], exist_ok=True)
    vocab = os.path.join(args["vocab_dir"], "vocab.txt")
    _vocab(vocab, 30522)

    def init_tokenizer():
        tok = BertTokenizer(vocab, do_lower_case=True)
        tok.add_special_tokens({"bos_token": "[DEC]"})
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        tok.enc_token_id = tok.additional_special_tokens_ids[0]
        return tok

    import ImageReward.models.BLIP.blip as blip
    import ImageReward.models.BLIP.blip_pretrain as blip_pretrain

    blip.init_tokenizer = init_tokenizer
    blip_pretrain.init_tokenizer = init_tokenizer
    from ImageReward.ImageReward import ImageReward

    med = os.path.join(args["vocab_dir"], "med_config.json")
    with open(med, "w") as f:
        json.dump(
            {
                "architectures": ["BertModel"],
                "attention_probs_dropout_prob": 0.1,
                "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1,
                "hidden_size": 768,
                "initializer_range": 0.02,
                "intermediate_size": 3072,
                "layer_norm_eps": 1e-12,
                "max_position_embeddings": 512,
                "model_type": "bert",
                "num_attention_heads": 12,
                "num_hidden_layers": 12,
                "pad_token_id": 0,
                "type_vocab_size": 2,
                "vocab_size": 30524,
                "encoder_width": 1024,
                "add_cross_attention": True,
            },
            f,
        )
    torch.manual_seed(int(args.get("seed", 0)))
    model = ImageReward(med_config=med, device="cpu").eval()
    with torch.no_grad():  # random MLP weights, so the head is not a near-constant
        for p in model.mlp.parameters():
            p.normal_(0, 0.05)
    torch.save(model.state_dict(), args["save_to"])
    return {"model": model}


def score(state, image_paths, prompts):
    import torch

    with torch.no_grad():
        return [float(state["model"].score(p, path)) for p, path in zip(prompts, image_paths, strict=True)]
