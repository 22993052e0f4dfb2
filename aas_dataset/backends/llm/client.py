"""The one client for OpenAI-compatible chat endpoints (OpenAI, OpenRouter, DeepInfra, vLLM).

- Async `openai` client; at most `concurrency` requests in flight.
- Structured JSON replies validated with a pydantic model.
- Bounded retries (tenacity) with exponential backoff and jitter on 429 (honouring
  Retry-After), 5xx, timeouts, connection errors and replies that fail validation; the last
  error is what a failure records.
- A sqlite response cache keyed by model, instruction version, parameters and the digests of
  every input (images included). Only validated successes are stored, so a rerun after a
  crash resends exactly the requests that had not succeeded.
- Token usage per request, so stages can total usage and cost.

The API key is read from the environment variable the catalog names and is never logged,
cached or written.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from aas_dataset.backends.remote import api_key, retry_policy
from aas_dataset.util import Strict, canonical_json, excerpt


class LLMSettings(Strict):
    TRANSPORT = frozenset(
        {
            "base_url",
            "api_key_env",
            "concurrency",
            "max_attempts",
            "timeout_s",
            "backoff_base_s",
            "backoff_max_s",
            "price_in_per_mtok",
            "price_out_per_mtok",
            "batch_api",
            "batch_poll_s",
            "batch_window",
        }
    )
    base_url: str
    api_key_env: str
    temperature: float = Field(default=0.1, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=16, ge=1, le=1024)
    max_attempts: int = Field(default=6, ge=1, le=50)
    timeout_s: float = Field(default=120.0, gt=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    # json_schema: strict structured output; json_object: any JSON (older servers)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    # USD per million tokens, for the cost estimate in MANIFEST
    price_in_per_mtok: float = Field(default=0.0, ge=0)
    price_out_per_mtok: float = Field(default=0.0, ge=0)
    extra_body: dict[str, Any] = {}
    # OpenAI Batch API: one JSONL job instead of live calls (cheaper, slower, resumable)
    batch_api: bool = False
    batch_poll_s: float = Field(default=30.0, gt=0)
    batch_window: str = "24h"


@functools.lru_cache(maxsize=64)
def _schema(model: type[BaseModel]) -> dict:
    """A reply model's JSON schema (pydantic builds it in about a millisecond; once is enough)."""
    return model.model_json_schema()


class ReplyInvalid(Exception):
    """The server answered, but not with JSON of the requested schema (or it refused)."""


@dataclass
class Usage:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0

    def add(self, other: Usage) -> None:
        for k in self.__dict__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Request:
    """One chat call: text parts and PNG images in one user turn, after a system message."""

    system: str | None  # None: no system message (a request the authors sent as one user turn)
    user: str
    images: Sequence[bytes] = ()
    schema: type[BaseModel] | None = None
    tag: str = ""  # what kind of request (rewriter, pairwise_judge, ...); the texts themselves are hashed


@dataclass
class Reply:
    parsed: BaseModel
    usage: Usage = field(default_factory=Usage)


def image_data_url(data: bytes) -> str:
    """A data URL with the image's own type (PNG, JPEG or WebP bytes are sent as they are)."""
    mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/webp" if data[8:12] == b"WEBP" else "image/png"
    return f"data:{mime};base64," + base64.b64encode(data).decode()


class ResponseCache:
    """sqlite key -> validated reply JSON. WAL mode, so several worker processes can share it."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed (what resuming needs)
        # without an fsync per reply; only a power cut may lose the newest replies.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self._db.commit()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, body: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies (key, body) VALUES (?, ?)", (key, body))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _retryable(e: BaseException) -> bool:
    import openai

    if isinstance(e, ReplyInvalid | openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(e, openai.APIStatusError) and e.status_code >= 500


def describe_error(e: BaseException) -> str:
    import openai

    if isinstance(e, openai.APIStatusError):  # the server's own words say what to fix (model name, quota)
        body = e.response.text if e.response is not None else e.message
        return f"HTTP {e.status_code}: {type(e).__name__}: {excerpt(body, 200)}"
    return f"{type(e).__name__}: {excerpt(e, 400)}"


class LLMClient:
    def __init__(self, model: str, settings: LLMSettings, cache_path: Path | None, label: str = "llm"):
        import openai  # noqa: F401  (imported here, at load time, not inside the first batch)

        key = api_key(settings.api_key_env, label)
        self.model = model
        self.settings = settings
        self.label = label
        # Retries are ours (bounded, recorded, Retry-After aware), so the SDK's are off.
        self._client_args = {
            "base_url": settings.base_url,
            "api_key": key,
            "max_retries": 0,
            "timeout": settings.timeout_s,
        }
        self.cache = ResponseCache(cache_path) if cache_path else None
        self.usage = Usage()
        self.calls = 0  # HTTP requests sent, retries included
        # One event loop and one HTTP client for the client's life: connections are reused
        # across batches instead of reopened for each.
        self._loop = asyncio.new_event_loop()
        self._client = None

    def cache_key(self, req: Request) -> str:
        s = self.settings
        parts = {
            "model": self.model,
            "tag": req.tag,
            "params": {
                "temperature": s.temperature,
                "max_tokens": s.max_tokens,
                "format": s.response_format,
                "extra": s.extra_body,
            },
            "schema": _schema(req.schema) if req.schema else None,
            "system": None if req.system is None else hashlib.sha256(req.system.encode()).hexdigest(),
            "user": hashlib.sha256(req.user.encode()).hexdigest(),
            "images": [hashlib.sha256(b).hexdigest() for b in req.images],
        }
        return hashlib.sha256(canonical_json(parts).encode()).hexdigest()

    def _messages(self, req: Request) -> list[dict]:
        content: list[dict] | str = req.user
        if req.images:  # no text part when the request is the image alone
            content = [{"type": "text", "text": req.user}] if req.user else []
            content += [{"type": "image_url", "image_url": {"url": image_data_url(b)}} for b in req.images]
        system = [] if req.system is None else [{"role": "system", "content": req.system}]
        return [*system, {"role": "user", "content": content}]

    def _response_format(self, schema: type[BaseModel] | None) -> dict:
        if schema is None or self.settings.response_format == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": _schema(schema), "strict": True},
        }

    def _body(self, req: Request) -> dict:
        s = self.settings
        body: dict[str, Any] = {"model": self.model, "messages": self._messages(req), "temperature": s.temperature}
        if s.max_tokens:
            body["max_tokens"] = s.max_tokens
        body["response_format"] = self._response_format(req.schema)
        return {**body, **s.extra_body}

    async def _once(self, client, req: Request) -> Reply:
        self.calls += 1
        # The SDK's raw `post` (its documented route for custom requests) keeps its transport,
        # auth and error types but skips the typed transform of every message part, which
        # costs milliseconds per image request and would cap throughput.
        raw = await client.post("/chat/completions", body=self._body(req), cast_to=str)
        try:
            resp = json.loads(raw)
        except ValueError:
            raise ReplyInvalid(f"response body is not JSON: {excerpt(raw, 120)!r}") from None
        return self._parse(resp, req)

    def _parse(self, resp: dict, req: Request) -> Reply:
        """A chat-completion body -> validated Reply, or ReplyInvalid."""
        u = resp.get("usage") or {}
        usage = Usage(1, int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), 0)
        self.usage.add(usage)
        choices = resp.get("choices") or []
        msg = choices[0].get("message") if choices else None
        if not msg:
            raise ReplyInvalid("empty reply (no choices)")
        if msg.get("refusal"):
            raise ReplyInvalid(f"refused: {excerpt(msg['refusal'], 200)}")
        text = (msg.get("content") or "").strip()
        if text.startswith("```"):  # some servers wrap JSON in a code fence
            text = text.strip("`").removeprefix("json").strip()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ReplyInvalid(f"reply is not JSON: {excerpt(text, 120)!r}") from None
        try:
            parsed = req.schema.model_validate(data) if req.schema else _Any.model_validate({"value": data})
        except ValidationError as e:
            raise ReplyInvalid(f"reply does not match {req.schema.__name__}: {e.errors()[0]['msg']}") from None
        return Reply(parsed, usage)

    async def _call(self, client, sem: asyncio.Semaphore, req: Request) -> Reply:
        key = self.cache_key(req)
        if (hit := self._cached(key, req)) is not None:
            return hit
        reply = await self._retrying(sem, lambda: self._once(client, req))
        self._remember(key, reply)
        return reply

    async def _retrying(self, sem: asyncio.Semaphore, once):
        """Await `once()` under the concurrency limit, retrying what `_retryable` allows."""
        from tenacity import AsyncRetrying

        async for attempt in AsyncRetrying(**retry_policy(self.settings, _retryable)):
            with attempt:
                async with sem:
                    result = await once()
        return result

    def _remember(self, key: str, reply: Reply) -> None:
        if self.cache:
            body = {"parsed": reply.parsed.model_dump(mode="json"), "usage": reply.usage.as_dict()}
            self.cache.put(key, json.dumps(body))

    def _cached(self, key: str, req: Request) -> Reply | None:
        if not self.cache or (body := self.cache.get(key)) is None:
            return None
        self.usage.cache_hits += 1
        stored = json.loads(body)
        return Reply(req.schema.model_validate(stored["parsed"]), Usage(**{**stored["usage"], "cache_hits": 1}))

    async def _gather(self, reqs: Sequence[Request], on_result) -> list[Reply | BaseException]:
        client = self._http()
        sem = asyncio.Semaphore(self.settings.concurrency)

        async def one(i: int, req: Request) -> Reply | BaseException:
            try:
                res: Reply | BaseException = await self._call(client, sem, req)
            except Exception as e:
                res = e
            if on_result is not None:
                on_result(i, res)
            return res

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(reqs))))

    def run(self, reqs: Sequence[Request], on_result=None) -> list[Reply | BaseException]:
        """All requests concurrently (bounded); one Reply or the final exception per request.

        `on_result(i, reply_or_error)` is called as each request finishes, so a caller can
        store results while the others are still in flight."""
        return self._loop.run_until_complete(self._gather(reqs, on_result))

    def _http(self):
        """The SDK client, made once inside this client's event loop."""
        from openai import AsyncOpenAI

        if self._client is None:
            self._client = AsyncOpenAI(**self._client_args)
        return self._client

    def post_many(self, path: str, bodies: Sequence[dict], parse) -> list:
        """POST each body to `path` with the same concurrency and retry policy (no cache: used
        for image generation). `parse(response_dict)` returns the result or raises ReplyInvalid,
        which is retried like a failed request."""

        async def go():
            client = self._http()
            sem = asyncio.Semaphore(self.settings.concurrency)

            async def once(body):
                self.calls += 1
                raw = await client.post(path, body=body, cast_to=str)
                try:
                    return parse(json.loads(raw))
                except ValueError as e:
                    raise ReplyInvalid(excerpt(e, 200)) from None

            async def one(body):
                try:
                    return await self._retrying(sem, lambda: once(body))
                except Exception as e:
                    return e

            return list(await asyncio.gather(*(one(b) for b in bodies)))

        return self._loop.run_until_complete(go())

    def close(self) -> None:
        if self._client is not None:
            self._loop.run_until_complete(self._client.close())
            self._client = None
        self._loop.close()
        if self.cache:
            self.cache.close()


class _Any(BaseModel):
    value: Any
