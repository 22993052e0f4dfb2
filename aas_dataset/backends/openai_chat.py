"""Rewriter on any OpenAI-compatible chat endpoint (OpenAI, OpenRouter, vLLM, ...).

The key is read from the environment variable the catalog names, never from a file, and is
never logged. Retries are the `openai` client's own (429, 5xx, timeouts, with backoff).
"""

from __future__ import annotations

import json
import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..taxonomy import dimension
from .base import Rewriter

# Our own wording of the paper's constraints: effects dominate, only the given effects,
# concrete visual features, under 70 words, prompt-ready.
INSTRUCTION = """You turn an ordinary image caption into a text-to-image prompt that \
deliberately carries some unattractive visual qualities.

Caption: {caption}

Qualities to build in (each one must clearly show):
{effects}

Rules:
- The qualities matter more than the caption's subject; let them dominate the picture.
- Say concretely which visible features create each quality.
- Use only the qualities listed; add no other stylistic effects.
- Keep the caption's content; invent nothing beyond it and the qualities.
- Fewer than 70 words, written as a prompt an image model can take directly.

Answer with JSON: {{"long_description": "<the prompt>"}}"""


class RewriteReply(BaseModel):
    long_description: str = Field(min_length=1)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str
    api_key_env: str
    temperature: float = Field(default=0.1, ge=0, le=2)
    max_retries: int = Field(default=5, ge=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_words: int = Field(default=70, ge=1)


class OpenAIChatRewriter(Rewriter):
    Settings = Settings
    VERSION = 1

    def load(self) -> None:
        from openai import OpenAI

        key = os.environ.get(self.settings.api_key_env)
        if not key:
            raise RuntimeError(f"rewriter {self.name!r}: environment variable {self.settings.api_key_env} is not set")
        self.client = OpenAI(
            base_url=self.settings.base_url,
            api_key=key,
            max_retries=self.settings.max_retries,
            timeout=self.settings.timeout_s,
        )

    def rewrite(self, caption: str, dims: list[str]) -> str:
        effects = "\n".join(f"- {dimension(d).anti_pole}" for d in dims)
        reply = self.client.chat.completions.create(
            model=self.model_id,
            temperature=self.settings.temperature,
            response_format={"type": "json_object"},
            messages=[
                {"role": "system", "content": "You are a careful assistant that answers in JSON."},
                {"role": "user", "content": INSTRUCTION.format(caption=caption, effects=effects)},
            ],
        )
        content = reply.choices[0].message.content or ""
        try:
            text = RewriteReply.model_validate(json.loads(content)).long_description.strip()
        except (json.JSONDecodeError, ValidationError) as e:
            raise ValueError(f"malformed rewriter reply: {str(e).splitlines()[0]}") from None
        n_words = len(text.split())
        if n_words > self.settings.max_words * 1.5:
            raise ValueError(f"rewrite has {n_words} words, limit {self.settings.max_words}")
        return text
