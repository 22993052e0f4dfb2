"""Training-free negative guidance for Flux-family transformers: VSF and NAG, written here as
diffusers attention processors from the published algorithms (github.com/weathon/VSF;
github.com/ChenDarYen/Normalized-Attention-Guidance).

Both follow the diffusers 0.42 Flux attention API: tensors (B, S, H, D), joint sequences text
first, RoPE via `apply_rotary_emb(sequence_dim=1)`, attention via `dispatch_attention_fn`.
They are installed with `set_attn_processor` for one pipeline call and the originals restored.

VSF (Value Sign Flip). The negative prompt's N tokens (no padding) follow the positive prompt,
which is padded to L - N so the text stream keeps its usual length L. Inside every attention
one more copy of the negative keys is appended whose values are multiplied by -scale; a mask
keeps the streams apart: positive text and image queries do not see the un-flipped negative
tokens, negative tokens do not see the positive prompt, no text query sees the flipped copy,
and image queries see the flipped copy with `offset` subtracted from their logits. This is the
semantics of the VSF paper in text-first order, not the unpublished `fix_flux` code; the
pooled CLIP vector is the positive prompt's (the 1.1 extrapolation of older public code is
not reproduced).

NAG (Normalized Attention Guidance). The transformer runs on two lanes: [positive text;
negative text] with the same image tokens and the positive pooled vector in both (so the image
tokens stay identical across lanes; this is the tiled-latent variant, not the reference's
truncated-norm patch). In every attention the image outputs of the two lanes, Z+ and Z-, are
combined as Z~ = Z+ + scale * (Z+ - Z-) (the paper's phi; the official code's nag_scale is
phi + 1), capped per token at tau times ||Z+||_1, and blended Z+ + alpha * (Z^ - Z+); the
result replaces the image outputs of both lanes. Text outputs are left alone.
"""

from __future__ import annotations

import contextlib


def _attention(q, k, v, mask=None):
    from diffusers.models.attention_dispatch import AttentionBackendName, dispatch_attention_fn

    # A float mask rules out flash backends (SDPA takes them only without an arbitrary mask): VSF
    # always uses native SDPA.
    backend = AttentionBackendName.NATIVE if mask is not None else None
    return dispatch_attention_fn(q, k, v, attn_mask=mask, backend=backend)


def _qkv(attn, hidden_states, encoder_hidden_states, image_rotary_emb):
    """Flux's projections, norms, text-first concatenation and RoPE; returns q, k, v, text_len."""
    from diffusers.models.embeddings import apply_rotary_emb
    from diffusers.models.transformers.transformer_flux import _get_qkv_projections

    q, k, v, eq, ek, ev = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
    q, k, v = (t.unflatten(-1, (-1, attn.head_dim)) for t in (q, k, v))
    q, k = attn.norm_q(q), attn.norm_k(k)
    text_len = 0
    if encoder_hidden_states is not None and attn.added_kv_proj_dim is not None:
        eq, ek, ev = (t.unflatten(-1, (-1, attn.head_dim)) for t in (eq, ek, ev))
        eq, ek = attn.norm_added_q(eq), attn.norm_added_k(ek)
        q, k, v = (torch_cat([a, b]) for a, b in ((eq, q), (ek, k), (ev, v)))
        text_len = encoder_hidden_states.shape[1]
    if image_rotary_emb is not None:
        q = apply_rotary_emb(q, image_rotary_emb, sequence_dim=1)
        k = apply_rotary_emb(k, image_rotary_emb, sequence_dim=1)
    return q, k, v, text_len


def torch_cat(parts):
    import torch

    return torch.cat(parts, dim=1)


def _finish(attn, out, encoder_hidden_states):
    """Flatten heads; for double-stream blocks split [text, image] and project both."""
    if encoder_hidden_states is None:
        return out
    n = encoder_hidden_states.shape[1]
    text, image = out[:, :n], out[:, n:]
    image = attn.to_out[1](attn.to_out[0](image.contiguous()))
    return image, attn.to_add_out(text.contiguous())


class VSFFluxProcessor:
    """Value Sign Flip on one Flux attention module. `pos_len`/`neg_len` (text tokens of the
    positive and negative prompt) are set by `vsf_call` before each pipeline call."""

    def __init__(self, scale: float, offset: float = 0.0):
        self.scale = scale
        self.offset = offset
        self.pos_len = 0
        self.neg_len = 0

    def _mask(self, total: int, dtype, device):
        import torch

        p, n = self.pos_len, self.neg_len
        text = p + n
        ninf = float("-inf")
        mask = torch.zeros(total, total + n, dtype=dtype, device=device)
        neg = slice(p, text)
        flipped = slice(total, total + n)
        mask[:p, neg] = ninf  # positive text does not see the negative tokens ...
        mask[:text, flipped] = ninf  # ... and no text token sees the flipped copy
        mask[neg, :p] = ninf  # negative tokens do not see the positive prompt
        mask[text:, neg] = ninf  # image queries see only the flipped copy of the negative
        mask[text:, flipped] = -self.offset
        return mask[None, None]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v, _ = _qkv(attn, hidden_states, encoder_hidden_states, image_rotary_emb)
        p, n = self.pos_len, self.neg_len
        # The negative tokens sit at [p, p + n) of the text-first sequence in both block kinds.
        k = torch_cat([k, k[:, p : p + n]])
        v = torch_cat([v, -self.scale * v[:, p : p + n]])
        out = _attention(q, k, v, self._mask(q.shape[1], q.dtype, q.device)).flatten(2, 3).to(q.dtype)
        return _finish(attn, out, encoder_hidden_states)


class NAGFluxProcessor:
    """NAG on one Flux attention module; the batch holds the positive lane then the negative
    lane. `text_len` is set by the transformer pre-hook (single-stream blocks get no text)."""

    def __init__(self, scale: float, tau: float, alpha: float):
        self.scale = scale
        self.tau = tau
        self.alpha = alpha
        self.text_len = 0

    def guide(self, z):
        """z: image outputs (2B, S, C) -> guided outputs for both lanes."""
        import torch

        zp, zn = z.chunk(2)
        zt = zp + self.scale * (zp - zn)
        norm_p = zp.abs().sum(-1, keepdim=True).clamp_min(1e-6)
        r = zt.abs().sum(-1, keepdim=True).clamp_min(1e-6) / norm_p
        zhat = zt * (torch.clamp(r, max=self.tau) / r)
        g = zp + self.alpha * (zhat - zp)
        return torch.cat([g, g])

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v, text_len = _qkv(attn, hidden_states, encoder_hidden_states, image_rotary_emb)
        out = _attention(q, k, v).flatten(2, 3).to(q.dtype)
        t = text_len or self.text_len
        out = torch_cat([out[:, :t], self.guide(out[:, t:])])
        return _finish(attn, out, encoder_hidden_states)


@contextlib.contextmanager
def installed(transformer, processor):
    original = dict(transformer.attn_processors)
    transformer.set_attn_processor(processor)
    try:
        yield
    finally:
        transformer.set_attn_processor(original)


def _t5_len(pipe, text: str) -> int:
    """Real tokens of `text` for the T5 encoder, EOS included, no padding."""
    return len(pipe.tokenizer_2(text).input_ids)


def vsf_call(pipe, prompts: list[str], negatives: list[str], generators: list, scale: float, offset: float, **call):
    """One Flux pipeline call per distinct negative length (the mask depends on it), so an
    image never depends on which other prompts share its batch."""
    import torch

    from aas_dataset.util import run_grouped

    max_len = int(call.pop("max_sequence_length", 512))
    proc = VSFFluxProcessor(scale, offset)

    def run(n: int, idx: list[int]):
        pos_embeds, pooled, _ = pipe.encode_prompt(
            [prompts[i] for i in idx], prompt_2=None, max_sequence_length=max_len - n
        )
        neg_embeds = pipe._get_t5_prompt_embeds([negatives[i] for i in idx], max_sequence_length=n)
        proc.pos_len, proc.neg_len = max_len - n, n
        with installed(pipe.transformer, proc):
            return pipe(
                prompt_embeds=torch.cat([pos_embeds, neg_embeds.to(pos_embeds.dtype)], dim=1),
                pooled_prompt_embeds=pooled,
                generator=[generators[i] for i in idx],
                max_sequence_length=max_len,
                **call,
            ).images

    return run_grouped([min(_t5_len(pipe, neg), max_len - 1) for neg in negatives], run)


def nag_call(
    pipe, prompts: list[str], negatives: list[str], generators: list, scale: float, tau: float, alpha: float, **call
):
    """Flux call with NAG: a transformer pre-hook builds the two lanes, a hook keeps lane one."""
    max_len = int(call.get("max_sequence_length", 512))
    neg_embeds, _, _ = pipe.encode_prompt(negatives, prompt_2=None, max_sequence_length=max_len)
    proc = NAGFluxProcessor(scale, tau, alpha)

    def two_lanes(module, args, kwargs):
        import torch

        kw = dict(kwargs)
        b = kw["hidden_states"].shape[0]
        kw["encoder_hidden_states"] = torch.cat([kw["encoder_hidden_states"], neg_embeds.to(kw["hidden_states"])])
        for name in ("hidden_states", "pooled_projections", "timestep", "guidance"):
            if kw.get(name) is not None:
                kw[name] = torch.cat([kw[name], kw[name]])
        proc.text_len = kw["encoder_hidden_states"].shape[1]
        proc.batch = b
        return args, kw

    def first_lane(module, args, kwargs, output):
        if isinstance(output, tuple):
            return (output[0][: proc.batch],) + tuple(output[1:])
        output.sample = output.sample[: proc.batch]
        return output

    t = pipe.transformer
    h1 = t.register_forward_pre_hook(two_lanes, with_kwargs=True)
    h2 = t.register_forward_hook(first_lane, with_kwargs=True)
    try:
        with installed(t, proc):
            return pipe(prompt=prompts, generator=generators, **call).images
    finally:
        h1.remove()
        h2.remove()
