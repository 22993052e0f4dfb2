"""Backends on OpenAI-compatible chat endpoints, all through `aas_dataset.backends.llm.client.LLMClient`:
the rewriter, the negative-prompt writer, the pairwise selection judge and the per-image
0-100 judge.

The rewriter and both judges send the authors' texts by default (`texts: official`: read from
their repository and hash-checked, see `instructions.py`) or our wording of them
(`texts: ours`). Reply schemas have the authors' names and fields, so the JSON schema a server
constrains decoding with is theirs too. The texts sent are part of the response-cache key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field, field_validator

from aas_dataset.backends.base import Judge, JudgeItem, NegativeWriter, Rewriter, Verdict
from aas_dataset.backends.llm.batch import make_client
from aas_dataset.backends.llm.client import LLMClient, LLMSettings, Request, describe_error
from aas_dataset.spec.instructions import TextsMode, describe, describe_effects, effects, instruction
from aas_dataset.spec.official_texts import fill
from aas_dataset.util import Strict, derive_seed


class InstructedSettings(LLMSettings):
    # official: the authors' texts (read at load time, hash-checked); ours: our wording of them
    texts: TextsMode = "official"
    # a local copy of the authors' repository; default: its files are fetched once at the pinned commit
    official_dir: str | None = Field(default=None, exclude=True)


class _LLMBackend:
    """Mixin: builds the client in load() with the response cache under the store, and reads
    the instruction of its ROLE."""

    ROLE: ClassVar[str | None] = None
    exact_batches = False
    cache_dir = None
    client: LLMClient

    def load(self) -> None:
        cache = (self.cache_dir / "llm_cache.sqlite") if self.cache_dir else None
        if self.ROLE:
            s = self.settings
            self.instr = instruction(self.ROLE, s.texts, s.official_dir, self.cache_dir)
        self.client = make_client(self.model_id, self.settings, cache, label=f"{type(self).__name__} {self.name!r}")

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        return describe(cls.ROLE, settings.texts) if cls.ROLE else []

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


def _texts(client: LLMClient, reqs: list[Request], field: str, max_words: int | None, what: str) -> list:
    """Run text-writing requests; a Text per reply, or the error (a reply over the word limit is one)."""
    out: list = []
    for r in client.run(reqs):
        if isinstance(r, BaseException):
            out.append(RuntimeError(describe_error(r)))
            continue
        text = getattr(r.parsed, field).strip()
        n = len(text.split())
        out.append(
            ValueError(f"{what} has {n} words, limit {max_words}")
            if max_words is not None and n > max_words
            else Text(text, _unit_usage(r))
        )
    return out


# --- rewriter ----------------------------------------------------------------------------


class Prompts(Strict):
    """The authors' reply schema for a rewrite (name and field as in their code)."""

    long_description: str


class RewriterSettings(InstructedSettings):
    # The instruction asks for fewer than 70 words; the authors kept every reply. A reply
    # longer than this many words is a failure instead (None: keep every reply, as they did).
    reject_over_words: int | None = Field(default=None, ge=1)


class OpenAIChatRewriter(_LLMBackend, Rewriter):
    Settings = RewriterSettings
    VERSION = 3  # 3: the authors' instruction and effect texts, their reply schema
    ROLE = "rewriter"

    def load(self) -> None:
        super().load()
        s = self.settings
        self.effect_texts = effects(s.texts, s.official_dir, self.cache_dir)

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        return [*super().text_sources(settings), describe_effects(settings.texts)]

    def effects_text(self, dims: list[str]) -> str:
        """What the instruction's effects field receives: one description per line, in the
        order the dimensions were drawn (as the authors joined them)."""
        return "\n".join(self.effect_texts[d] for d in dims)

    def rewrite_many(self, items: list[tuple[str, list[str]]]) -> list:
        reqs = [
            Request(
                self.instr.system,
                fill(self.instr.user, caption=caption, effects=self.effects_text(dims)),
                (),
                Prompts,
                self.ROLE,
            )
            for caption, dims in items
        ]
        limit = self.settings.reject_over_words
        return _texts(self.client, reqs, "long_description", limit, "rewrite")

    def rewrite(self, caption: str, dims: list[str]) -> str:
        (r,) = self.rewrite_many([(caption, dims)])
        if isinstance(r, BaseException):
            raise r
        return r.text


# --- negative-prompt writer --------------------------------------------------------------
# The authors' negative-prompt code is unpublished: this instruction is ours alone.

NEGATIVE = """An image model will be steered away from a short negative prompt. Write that negative \
prompt for this request: name the conventionally pleasing look the request is trying to avoid, \
so the model stops drifting back to it.

Request: {prompt}

At most 5 words, no sentence, no punctuation except commas.
Answer as JSON: {{"negative_prompt": "<at most 5 words>"}}"""
NEGATIVE_SYSTEM = (
    "You are a careful assistant. Reply with one JSON object that matches the requested schema, nothing else."
)


class NegativeReply(Strict):
    negative_prompt: str = Field(min_length=1)


class OpenAINegativeWriter(_LLMBackend, NegativeWriter):
    Settings = LLMSettings
    VERSION = 1
    KIND = "negative"

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        sha = hashlib.sha256((NEGATIVE_SYSTEM + NEGATIVE).encode()).hexdigest()[:16]
        return [{"text": "negative-prompt instruction", "source": "ours (no published original)", "sha256": sha}]

    def negative_many(self, prompts: list[str], dims: list[list[str]] | None = None) -> list:
        reqs = [Request(NEGATIVE_SYSTEM, NEGATIVE.format(prompt=p), (), NegativeReply, self.KIND) for p in prompts]
        return _texts(self.client, reqs, "negative_prompt", 5, "negative prompt")


# --- pairwise selection judge ------------------------------------------------------------


class PreferenceSelection(Strict):
    """The authors' reply schema: an integer, checked after parsing (0 first image, 1 second, -1 tie)."""

    selection: int

    @field_validator("selection")
    @classmethod
    def _known(cls, v: int) -> int:
        if v not in (-1, 0, 1):
            raise ValueError(f"selection must be -1, 0 or 1, got {v}")
        return v


class PairwiseSettings(InstructedSettings):
    temperature: float = Field(default=0.3, ge=0, le=2)


def _order_bit(judge: str, a: bytes, b: bytes) -> int:
    """Which image is shown first: a fixed coin flip per (judge, pair), recorded with the label.
    (The authors drew a fresh random bit per call; ours is seeded so a rerun asks the same.)"""
    return derive_seed(judge, hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()) & 1


class LLMPairwiseJudge(_LLMBackend, Judge):
    """Both images and p_a; the order is randomised per pair and mapped back:
    0 = I_o chosen, 1 = I_a chosen, -1 = tie."""

    Settings = PairwiseSettings
    VERSION = 2  # 2: the authors' instruction, their reply schema
    ROLE = "pairwise_judge"
    streams = True

    @classmethod
    def paper_differences(cls, settings) -> list[str]:
        return ["which image is shown first is a seeded coin flip per pair (the authors drew a new bit per call)"]

    def requests(self, items: list[JudgeItem]) -> tuple[list[Request], list[int]]:
        """The request for each pair, and whether I_a was shown first."""
        reqs, orders = [], []
        for it in items:
            flip = _order_bit(self.name, it.original_png, it.distorted_png)
            shown = (it.distorted_png, it.original_png) if flip else (it.original_png, it.distorted_png)
            orders.append(flip)
            text = fill(self.instr.user, prompt=it.prompt_distorted)
            reqs.append(Request(self.instr.system, text, shown, PreferenceSelection, self.ROLE))
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


class JudgeResponse(Strict):
    """The authors' reply schema; both scores must lie in 0-100 (checked after parsing)."""

    reasoning: str
    main_concepts: int
    special_effects: int

    @field_validator("main_concepts", "special_effects")
    @classmethod
    def _percentage(cls, v: int) -> int:
        if not 0 <= v <= 100:
            raise ValueError(f"score outside 0-100: {v}")
        return v


class LLMAbsoluteJudge(_LLMBackend, Judge):
    """Each image of the pair graded on its own (given both prompts): judge100_<name> columns."""

    Settings = InstructedSettings
    VERSION = 2  # 2: the authors' instruction, their reply schema
    ROLE = "absolute_judge"
    absolute = True

    def judge(self, items: list[JudgeItem], emit=None) -> list[Verdict | BaseException]:
        reqs = []
        for it in items:
            text = fill(self.instr.user, p_o=it.prompt_original, p_a=it.prompt_distorted)
            reqs += [
                Request(self.instr.system, text, (png,), JudgeResponse, self.ROLE)
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
