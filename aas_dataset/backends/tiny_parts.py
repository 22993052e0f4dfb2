"""Tiny random-weight building blocks for offline runs: a byte-level CLIP tokenizer and
deterministic weight initialisation. The classes are the real transformers/diffusers ones;
only the sizes are small and the weights random (seeded).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

START, END = "<|startoftext|>", "<|endoftext|>"


def byte_level_clip_tokenizer(max_length: int = 77):
    """A CLIPTokenizer whose vocabulary is the 256 byte symbols (each also as a word end).

    No merges, so every character is a token: enough to make text embeddings depend on the
    prompt without downloading a vocabulary.
    """
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    symbols = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": len(symbols) + i for i, s in enumerate(symbols)})
    vocab[START] = len(vocab)
    vocab[END] = len(vocab)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "vocab.json").write_text(json.dumps(vocab))
        (Path(d) / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(str(Path(d) / "vocab.json"), str(Path(d) / "merges.txt"), model_max_length=max_length)


def tiny_clip_text_config(tokenizer) -> dict:
    """Text-tower sizes of the tiny CLIP models, ids from `tokenizer`."""
    vocab = tokenizer.get_vocab()
    return {
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 77,
        "bos_token_id": vocab[START],
        "eos_token_id": vocab[END],
        "pad_token_id": vocab[END],
    }


# Vision tower of the tiny CLIP and BLIP models.
TINY_VISION = {
    "image_size": 30,
    "patch_size": 2,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}


def tiny_bert_tokenizer(max_length: int = 64):
    """A BertTokenizer over single characters (plus the special tokens BLIP uses), offline."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-")
    with tempfile.TemporaryDirectory() as d:
        vocab = Path(d) / "vocab.txt"
        vocab.write_text("\n".join(specials + chars + [f"##{c}" for c in chars]) + "\n")
        return BertTokenizer(str(vocab), do_lower_case=True, model_max_length=max_length)


def tiny_blip_text_config(tokenizer) -> dict:
    """Text tower of the tiny BLIP models, ids from `tokenizer`."""
    v = tokenizer.get_vocab()
    return {
        "vocab_size": len(v),
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,  # as released: untruncated prompts fit
        "encoder_hidden_size": 32,
        "bos_token_id": v["[DEC]"],
        "pad_token_id": v["[PAD]"],
        "sep_token_id": v["[SEP]"],
    }


def byte_level_qwen_tokenizer(specials=(), chat_template: str | None = None, **kwargs):
    """A Qwen2Tokenizer over the 256 byte symbols, no merges (one token per byte), plus
    `specials` as additional special tokens in that order, offline."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import Qwen2Tokenizer

    vocab = {sym: i for i, sym in enumerate(sorted(ByteLevel.alphabet()))}
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], **kwargs)
    if specials:
        tok.add_special_tokens({"additional_special_tokens": list(specials)})
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


@contextlib.contextmanager
def seeded_init(seed: int):
    """Initialise weights from `seed` without disturbing the caller's global RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --- a tiny FLUX.1 pipeline (the tiny_flux generator; the VSF / NAG offline runs) -----------
# Small but structurally complete sizes: enough layers/heads to exercise joint and single
# stream blocks, RoPE axes and packing, small enough to run a 32² image in well under a second.
HEADS, HEAD_DIM = 2, 16
T5_DIM = 32


def tiny_t5_tokenizer():
    """A T5 (Unigram) tokenizer over single characters, built without a sentencepiece file."""
    from transformers import T5Tokenizer

    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'-"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in chars] + [("▁" + c, -2.5) for c in chars]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def tiny_t5_encoder(tokenizer):
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(
        vocab_size=len(tokenizer),
        d_model=T5_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    return T5EncoderModel(cfg)


def tiny_vae(latent_channels: int = 4, **extra):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[16, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=latent_channels,
        norm_num_groups=8,
        layers_per_block=1,
        **extra,
    )


def flow_scheduler(**kw):
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**kw)


def tiny_flux_components() -> dict[str, Any]:
    from diffusers import FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tok = byte_level_clip_tokenizer()
    tok2 = tiny_t5_tokenizer()
    return {
        "tokenizer": tok,
        "text_encoder": CLIPTextModel(CLIPTextConfig(**tiny_clip_text_config(tok))),
        "tokenizer_2": tok2,
        "text_encoder_2": tiny_t5_encoder(tok2),
        "transformer": FluxTransformer2DModel(
            patch_size=1,
            in_channels=16,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=HEAD_DIM,
            num_attention_heads=HEADS,
            joint_attention_dim=T5_DIM,
            pooled_projection_dim=32,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        ),
        "vae": tiny_vae(4, shift_factor=0.0609, scaling_factor=1.5035),
        "scheduler": flow_scheduler(),
    }
