"""Generators behind image APIs, on the one OpenAI-compatible client (concurrency, bounded
retries, keys from the environment):

- `openai_images`: OpenAI's Images API (gpt-image-*); base64 PNG in `data[0].b64_json`.
- `openrouter_image`: image-output chat models through OpenRouter (Nano Banana); the image is
  a data URL in `choices[0].message.images[0].image_url.url`; a reply without one is retried.
  The request is the authors' (their message text around the prompt, read from their code and
  hash-checked; no aspect ratio or output modalities unless settings ask for them).

These models take no seed: `seeded = False`, and the seed columns of their rows stay empty.
A failed call is a failed unit with its reason, never a placeholder image.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field

from aas_dataset.backends.base import Generator
from aas_dataset.backends.llm.client import LLMClient, LLMSettings, ReplyInvalid, describe_error
from aas_dataset.backends.remote import api_key, retry_policy
from aas_dataset.spec.images import ImageProblem, open_checked
from aas_dataset.spec.instructions import TextsMode, describe, instruction
from aas_dataset.spec.official_texts import fill
from aas_dataset.util import excerpt

# Retired ids answer with errors or silently reroute; refuse them before spending anything.
RETIRED = {"gpt-image-1", "dall-e-2", "dall-e-3", "google/gemini-2.5-flash-image-preview"}


def _decode(b64: str):
    """An image API's base64 image, checked on entry (decodes, pixel limit, mode)."""
    try:
        return open_checked(base64.b64decode(b64)).convert("RGB")
    except (ImageProblem, ValueError) as e:  # ValueError: not base64
        raise ReplyInvalid(f"the reply's image: {e}") from None


class _APIGenerator(Generator):
    seeded = False
    exact_batches = False
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


class OpenRouterImageSettings(APIImageSettings):
    # official: the authors' message around the prompt; ours: our wording of it
    texts: TextsMode = "official"
    official_dir: str | None = Field(default=None, exclude=True)  # a local copy of the authors' repository
    # Sent only when set (the paper's calls sent neither): e.g. "1:1", ["image", "text"].
    aspect_ratio: str | None = None
    modalities: list[str] | None = None


class OpenRouterImageGenerator(_APIGenerator):
    Settings = OpenRouterImageSettings
    VERSION = 2  # 2: the authors' request message; no forced aspect ratio or output modalities
    PATH = "/chat/completions"

    @classmethod
    def text_sources(cls, settings) -> list[dict]:
        return describe("image_api", settings.texts)

    def load(self) -> None:
        s = self.settings
        self.message = instruction("image_api", s.texts, s.official_dir, self.cache_dir).user
        super().load()

    def body(self, prompt: str) -> dict:
        s = self.settings
        text = fill(self.message, prompt=prompt)
        b: dict = {"model": self.model_id, "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}
        if s.modalities:
            b["modalities"] = list(s.modalities)
        if s.aspect_ratio:
            b["image_config"] = {"aspect_ratio": s.aspect_ratio}
        return {**b, **s.extra_body}

    def edit(self, images: list[Any], prompts: list[str], seeds: list[int], strength: float = 0.5) -> list[Any]:
        """The request sent as it is with the image beside it (or alone), as the authors' emotion
        study called the model; `strength` does not apply to an image API."""
        from aas_dataset.backends.llm.client import image_data_url
        from aas_dataset.util import png_bytes

        bodies = []
        for im, text in zip(images, prompts, strict=True):
            content: list[dict] = [{"type": "text", "text": text}]
            if im is not None:
                content.append({"type": "image_url", "image_url": {"url": image_data_url(png_bytes(im))}})
            bodies.append(
                {"model": self.model_id, "messages": [{"role": "user", "content": content}], **self.settings.extra_body}
            )
        out = self.client.post_many(self.PATH, bodies, self.parse)
        return [RuntimeError(describe_error(r)) if isinstance(r, BaseException) else r for r in out]

    @staticmethod
    def parse(resp: dict):
        choices = resp.get("choices") or []
        msg = (choices[0].get("message") or {}) if choices else {}
        images = msg.get("images") or []
        url = ((images[0] or {}).get("image_url") or {}).get("url", "") if images else ""
        if not url.startswith("data:image"):
            raise ReplyInvalid("no image in the reply (text only)")
        return _decode(url.split(",", 1)[1])


class ReplicateSettings(APIImageSettings):
    TRANSPORT = APIImageSettings.TRANSPORT | {"poll_interval_s", "max_wait_s"}
    base_url: str = "https://api.replicate.com/v1"
    api_key_env: str = "REPLICATE_API_TOKEN"
    # The model's input fields other than the prompt (e.g. size, aspect_ratio, go_fast).
    input: dict[str, Any] = {}
    # Models whose input has a seed (qwen/qwen-image): the image's seed is sent and recorded.
    seed_field: str | None = None
    # Negative prompt sent with each arm in `negative_field`; None = not sent (the model's own
    # default). The paper sent "" with p_a only.
    negative_field: str = "negative_prompt"
    negative_original: str | None = None
    negative_distorted: str | None = None
    poll_interval_s: float = Field(default=1.0, gt=0)
    max_wait_s: float = Field(default=600.0, gt=0)


class _Retryable(Exception):
    """A 429 / 5xx / network error: retried with backoff (Retry-After honoured)."""

    def __init__(self, msg: str, retry_after: float | None = None):
        super().__init__(msg)
        self.retry_after = retry_after


class ReplicateGenerator(Generator):
    """Replicate over plain HTTP: create a prediction, poll it until it settles, and download
    the first output at once (Replicate deletes API outputs after an hour). A prediction that
    fails, is canceled, times out or returns no usable image is a failed unit with its reason.

    Written on httpx rather than the `replicate` client so the retry / concurrency policy is
    the same bounded one as the other API backends and the base URL can be a loopback server.
    """

    Settings = ReplicateSettings
    VERSION = 2  # 2: a negative prompt per arm
    exact_batches = False

    @classmethod
    def is_seeded(cls, settings) -> bool:
        return settings.seed_field is not None

    def load(self) -> None:
        import httpx

        key = api_key(self.settings.api_key_env, f"generator {self.name!r}")
        s = self.settings
        self.http = httpx.Client(
            base_url=s.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=s.timeout_s,
            limits=httpx.Limits(max_connections=s.concurrency),
        )

    @property
    def preferred_batch_size(self) -> int | None:
        return self.settings.concurrency

    def _request(self, method: str, url: str, **kw):
        import httpx
        from tenacity import Retrying

        for attempt in Retrying(**retry_policy(self.settings, lambda e: isinstance(e, _Retryable))):
            with attempt:
                try:
                    r = self.http.request(method, url, **kw)
                except httpx.TransportError as e:
                    raise _Retryable(f"{type(e).__name__}") from None
                if r.status_code == 429 or r.status_code >= 500:
                    ra = r.headers.get("Retry-After")
                    raise _Retryable(f"HTTP {r.status_code}", float(ra) if ra else None)
                if r.status_code >= 400:
                    raise RuntimeError(f"HTTP {r.status_code}: {excerpt(r.text, 200)}")
                return r
        raise AssertionError("unreachable")

    def _one(self, prompt: str, seed: int, negative: str | None = None):
        import time

        s = self.settings
        inp = {**s.input, "prompt": prompt}
        if negative is not None:
            inp[s.negative_field] = negative
        if s.seed_field:
            inp[s.seed_field] = int(seed)
        pred = self._request("POST", f"/models/{self.model_id}/predictions", json={"input": inp}).json()
        deadline = time.monotonic() + s.max_wait_s
        while pred.get("status") not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"prediction {pred.get('id')} not finished after {s.max_wait_s:.0f} s")
            time.sleep(s.poll_interval_s)
            pred = self._request("GET", pred.get("urls", {}).get("get") or f"/predictions/{pred['id']}").json()
        if pred["status"] != "succeeded":
            raise RuntimeError(f"prediction {pred['status']}: {pred.get('error') or 'no reason given'}")
        output = pred.get("output")
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or not url:
            raise ReplyInvalid("prediction succeeded without an output image")
        data = self._request("GET", url).content
        try:
            return open_checked(data).convert("RGB")
        except ImageProblem as e:
            raise ReplyInvalid(f"output image: {e}") from None

    def generate(self, prompts: list[str], seeds: list[int], negatives: list[str | None] | None = None) -> list[Any]:
        from concurrent.futures import ThreadPoolExecutor

        def safe(args):
            try:
                return self._one(*args)
            except Exception as e:  # a failed unit, never a placeholder image
                return e

        negatives = negatives or [None] * len(prompts)
        with ThreadPoolExecutor(self.settings.concurrency) as pool:
            return list(pool.map(safe, zip(prompts, seeds, negatives, strict=True)))

    def generate_pairs(self, originals, distorted, seeds_o, seeds_a, negatives=None):
        """Both arms in one pool of requests, each with its arm's negative prompt."""
        s = self.settings
        n = len(originals)
        images = self.generate(
            [*originals, *distorted], [*seeds_o, *seeds_a], [s.negative_original] * n + [s.negative_distorted] * n
        )
        return images[:n], images[n:]

    def close(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
