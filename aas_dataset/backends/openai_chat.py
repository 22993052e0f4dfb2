"""Backends on OpenAI-compatible chat endpoints, all through `aas_dataset.llm.LLMClient`:
the rewriter, the negative-prompt writer, the pairwise selection judge and the per-image
0-100 judge. Every instruction is written in our own words; its version string is part of
the response-cache key, so editing an instruction means bumping its version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from ..llm import LLMClient, LLMSettings, Request, describe_error
from ..taxonomy import dimension
from ..util import derive_seed
from .base import Judge, JudgeItem, Rewriter, Verdict

SYSTEM_JSON = "You are a careful assistant. Reply with one JSON object that matches the requested schema, nothing else."


class _LLMBackend:
    """Mixin: builds the client in load() with the response cache under the store."""

    cache_dir = None
    client: LLMClient

    def load(self) -> None:
        cache = (self.cache_dir / "llm_cache.sqlite") if self.cache_dir else None
        self.client = LLMClient(self.model_id, self.settings, cache, label=f"{type(self).__name__} {self.name!r}")

    @property
    def preferred_batch_size(self) -> int:
        # enough requests per call that the drain at the end of each batch costs little; a
        # crash loses at most the requests in flight, since replies are cached as they arrive
        return 16 * self.settings.concurrency

    def close(self) -> None:
        self.client.close()


def _unit_usage(reply) -> dict:
    """What producing this reply cost (cache hits excluded, so the number does not depend on
    whether the reply came from the cache)."""
    u = reply.usage.as_dict()
    u.pop("cache_hits", None)
    return u


@dataclass(frozen=True)
class Text:
    """A text produced by a model, with the usage of the request that produced it."""

    text: str
    usage: dict


def _texts(client: LLMClient, reqs: list[Request], field: str, max_words: int, what: str) -> list:
    """Run text-writing requests; a Text per reply, or the error (a reply over the word limit is one)."""
    out: list = []
    for r in client.run(reqs):
        if isinstance(r, BaseException):
            out.append(RuntimeError(describe_error(r)))
            continue
        text = getattr(r.parsed, field).strip()
        n = len(text.split())
        out.append(
            ValueError(f"{what} has {n} words, limit {max_words}") if n > max_words else Text(text, _unit_usage(r))
        )
    return out


# --- rewriter ----------------------------------------------------------------------------

REWRITE = """Turn an ordinary image caption into a text-to-image prompt that deliberately carries \
some unattractive visual qualities.

Caption: {caption}

Qualities to build in (each one must clearly show):
{effects}

Rules:
- The qualities matter more than the caption's subject; let them dominate the picture.
- Say concretely which visible features create each quality.
- Use only the qualities listed; add no other stylistic effects.
- Keep the caption's content; invent nothing beyond it and the qualities.
- Fewer than {max_words} words, written as a prompt an image model can take directly.

Answer as JSON: {{"long_description": "<the prompt>"}}"""


class RewriteReply(BaseModel):
    long_description: str = Field(min_length=1)


class RewriterSettings(LLMSettings):
    max_words: int = Field(default=70, ge=1)


class OpenAIChatRewriter(_LLMBackend, Rewriter):
    Settings = RewriterSettings
    VERSION = 2
    TAG = "rewrite-v1"

    def rewrite_many(self, items: list[tuple[str, list[str]]]) -> list[str | BaseException]:
        reqs = [
            Request(
                SYSTEM_JSON,
                REWRITE.format(
                    caption=c,
                    effects="\n".join(f"- {dimension(d).anti_pole}" for d in dims),
                    max_words=self.settings.max_words,
                ),
                (),
                RewriteReply,
                self.TAG,
            )
            for c, dims in items
        ]
        # the paper's limit is a soft instruction; only a reply far over it is a failure
        return _texts(self.client, reqs, "long_description", int(1.5 * self.settings.max_words), "rewrite")

    def rewrite(self, caption: str, dims: list[str]) -> str:
        (r,) = self.rewrite_many([(caption, dims)])
        if isinstance(r, BaseException):
            raise r
        return r.text


# --- negative-prompt writer --------------------------------------------------------------

NEGATIVE = """An image model will be steered away from a short negative prompt. Write that negative \
prompt for this request: name the conventionally pleasing look the request is trying to avoid, \
so the model stops drifting back to it.

Request: {prompt}

At most 5 words, no sentence, no punctuation except commas.
Answer as JSON: {{"negative_prompt": "<at most 5 words>"}}"""


class NegativeReply(BaseModel):
    negative_prompt: str = Field(min_length=1)


class OpenAINegativeWriter(_LLMBackend, Rewriter):
    Settings = LLMSettings
    VERSION = 1
    TAG = "negative-v1"

    def negative_many(self, prompts: list[str]) -> list[str | BaseException]:
        reqs = [Request(SYSTEM_JSON, NEGATIVE.format(prompt=p), (), NegativeReply, self.TAG) for p in prompts]
        return _texts(self.client, reqs, "negative_prompt", 5, "negative prompt")


# --- pairwise selection judge ------------------------------------------------------------

PAIRWISE = """You compare two images against one prompt and decide which image follows the prompt \
more closely. Judge fidelity to the prompt only, including any unattractive qualities it asks \
for; do not reward beauty the prompt did not ask for.

Prompt: {prompt}

The first attached image is image 0, the second is image 1.
Answer as JSON: {{"selection": 0}} if image 0 fits better, {{"selection": 1}} if image 1 fits \
better, {{"selection": -1}} if neither fits better."""


class PairChoice(BaseModel):
    selection: Literal[-1, 0, 1]


class PairwiseSettings(LLMSettings):
    temperature: float = Field(default=0.3, ge=0, le=2)


def _order_bit(judge: str, a: bytes, b: bytes) -> int:
    """Which image is shown first: a fixed coin flip per (judge, pair), recorded with the label."""
    return derive_seed(judge, hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()) & 1


class LLMPairwiseJudge(_LLMBackend, Judge):
    """Both images and p_a; the order is randomised per pair and mapped back:
    0 = I_o chosen, 1 = I_a chosen, -1 = tie."""

    Settings = PairwiseSettings
    VERSION = 1
    TAG = "pairwise-v1"

    def requests(self, items: list[JudgeItem]) -> tuple[list[Request], list[int]]:
        """The request for each pair, and whether I_a was shown first."""
        reqs, orders = [], []
        for it in items:
            flip = _order_bit(self.name, it.original_png, it.distorted_png)
            shown = (it.distorted_png, it.original_png) if flip else (it.original_png, it.distorted_png)
            orders.append(flip)
            reqs.append(Request(SYSTEM_JSON, PAIRWISE.format(prompt=it.prompt_distorted), shown, PairChoice, self.TAG))
        return reqs, orders

    def judge(self, items: list[JudgeItem], emit=None) -> list[Verdict | BaseException]:
        """`emit(i, verdict)` is called as each answer arrives (the stage stores it at once)."""
        reqs, orders = self.requests(items)

        def verdict(i: int, r) -> Verdict | BaseException:
            if isinstance(r, BaseException):
                return RuntimeError(describe_error(r))
            s, flip = r.parsed.selection, orders[i]
            label = -1 if s == -1 else int((s == 0) == bool(flip))  # chosen image is I_a?
            detail = {"shown_first": "distorted" if flip else "original", "selection": s, "usage": _unit_usage(r)}
            return Verdict(label, f"selection {s}", detail)

        on_result = (lambda i, r: emit(i, verdict(i, r))) if emit else None
        return [verdict(i, r) for i, r in enumerate(self.client.run(reqs, on_result))]


# --- per-image 0-100 judge ---------------------------------------------------------------

ABSOLUTE = """You grade one image against a request that asked for specific, often unattractive, \
visual effects.

Original caption: {p_o}
Request with effects: {p_a}

1. main_concepts (0-100): how clearly the caption's subjects and scene are present. Requested \
effects that obscure them must not lower this score.
2. special_effects (0-100): the share of the requested effects that are visibly present; list \
the effects in the request, check each one, and score by the fraction found (100 = all, 0 = none).
3. reasoning: the list and the check, briefly.

Answer as JSON: {{"reasoning": "...", "main_concepts": <int>, "special_effects": <int>}}"""


class ImageJudgement(BaseModel):
    reasoning: str
    main_concepts: int = Field(ge=0, le=100)
    special_effects: int = Field(ge=0, le=100)


class LLMAbsoluteJudge(_LLMBackend, Judge):
    """Each image of the pair graded on its own (given both prompts): judge100_<name> columns."""

    Settings = LLMSettings
    VERSION = 1
    TAG = "absolute-v1"
    absolute = True

    def judge(self, items: list[JudgeItem]) -> list[Verdict | BaseException]:
        reqs = []
        for it in items:
            text = ABSOLUTE.format(p_o=it.prompt_original, p_a=it.prompt_distorted)
            reqs += [
                Request(SYSTEM_JSON, text, (png,), ImageJudgement, self.TAG)
                for png in (it.original_png, it.distorted_png)
            ]
        replies = self.client.run(reqs)
        out: list[Verdict | BaseException] = []
        for k in range(len(items)):
            pair = replies[2 * k : 2 * k + 2]
            bad = next((r for r in pair if isinstance(r, BaseException)), None)
            if bad is not None:
                out.append(RuntimeError(describe_error(bad)))
                continue
            scores = {
                f"{v}_{f}": getattr(r.parsed, f)
                for v, r in zip(("original", "distorted"), pair, strict=True)
                for f in ("main_concepts", "special_effects", "reasoning")
            }
            usage = {k2: v + _unit_usage(pair[1])[k2] for k2, v in _unit_usage(pair[0]).items()}
            out.append(Verdict(None, "", {"usage": usage}, scores))
        return out
