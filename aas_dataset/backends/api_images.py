"""Generators behind image APIs, on the one OpenAI-compatible client (concurrency, bounded
retries, keys from the environment):

- `openai_images`: OpenAI's Images API (gpt-image-*); base64 PNG in `data[0].b64_json`.
- `openrouter_image`: image-output chat models through OpenRouter (Nano Banana); the image is
  a data URL in `choices[0].message.images[0].image_url.url`; a reply without one is retried.

These models take no seed: `seeded = False`, and the seed columns of their rows stay empty.
A failed call is a failed unit with its reason, never a placeholder image.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Literal

from pydantic import Field

from ..llm import LLMClient, LLMSettings, ReplyInvalid, describe_error
from .base import Generator

# Retired ids answer with errors or silently reroute; refuse them before spending anything.
RETIRED = {"gpt-image-1", "dall-e-2", "dall-e-3", "google/gemini-2.5-flash-image-preview"}


def _decode(b64: str):
    from PIL import Image

    im = Image.open(io.BytesIO(base64.b64decode(b64)))
    im.load()
    return im.convert("RGB")


class _APIGenerator(Generator):
    seeded = False
    PATH = ""

    def load(self) -> None:
        if self.model_id in RETIRED:
            raise RuntimeError(f"generator {self.name!r}: model id {self.model_id!r} is retired")
        self.client = LLMClient(self.model_id, self.settings, None, label=f"generator {self.name!r}")

    def body(self, prompt: str) -> dict:
        raise NotImplementedError

    @staticmethod
    def parse(resp: dict):
        raise NotImplementedError

    def generate(self, prompts: list[str], seeds: list[int]) -> list[Any]:
        out = self.client.post_many(self.PATH, [self.body(p) for p in prompts], self.parse)
        return [RuntimeError(describe_error(r)) if isinstance(r, BaseException) else r for r in out]

    def close(self) -> None:
        self.client.close()


class APIImageSettings(LLMSettings):
    # image calls are slow and costly: fewer in flight than for text
    concurrency: int = Field(default=4, ge=1, le=64)


class OpenAIImagesSettings(APIImageSettings):
    size: str = "1024x1024"
    quality: Literal["low", "medium", "high", "auto"] = "high"
    moderation: Literal["low", "auto"] | None = None


class OpenAIImagesGenerator(_APIGenerator):
    Settings = OpenAIImagesSettings
    VERSION = 1
    PATH = "/images/generations"

    def body(self, prompt: str) -> dict:
        s = self.settings
        b = {
            "model": self.model_id,
            "prompt": prompt,
            "size": s.size,
            "quality": s.quality,
            "n": 1,
            "output_format": "png",
        }
        return {**b, **({"moderation": s.moderation} if s.moderation else {}), **s.extra_body}

    @staticmethod
    def parse(resp: dict):
        data = resp.get("data") or []
        if not data or not data[0].get("b64_json"):
            raise ReplyInvalid("no image in the reply")
        return _decode(data[0]["b64_json"])


ASK = "Create an image of the following description. Reply with the image only.\n\n{prompt}"


class OpenRouterImageSettings(APIImageSettings):
    aspect_ratio: str | None = "1:1"


class OpenRouterImageGenerator(_APIGenerator):
    Settings = OpenRouterImageSettings
    VERSION = 1
    PATH = "/chat/completions"

    def body(self, prompt: str) -> dict:
        s = self.settings
        b: dict = {
            "model": self.model_id,
            "messages": [{"role": "user", "content": ASK.format(prompt=prompt)}],
            "modalities": ["image", "text"],
        }
        if s.aspect_ratio:
            b["image_config"] = {"aspect_ratio": s.aspect_ratio}
        return {**b, **s.extra_body}

    @staticmethod
    def parse(resp: dict):
        choices = resp.get("choices") or []
        msg = (choices[0].get("message") or {}) if choices else {}
        images = msg.get("images") or []
        url = ((images[0] or {}).get("image_url") or {}).get("url", "") if images else ""
        if not url.startswith("data:image"):
            raise ReplyInvalid("no image in the reply (text only)")
        return _decode(url.split(",", 1)[1])
