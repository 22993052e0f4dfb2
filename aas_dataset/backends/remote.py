"""What every remote call shares (LLM endpoints, image APIs, Replicate): the API key, read from
the environment variable the catalog names, and one retry policy."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

from aas_dataset.util import register_secret


def api_key(env: str, label: str) -> str:
    """The key in `env`; a one-line error naming the variable (never the value) if it is unset."""
    register_secret(env)
    key = os.environ.get(env)
    if not key:
        raise RuntimeError(f"{label}: environment variable {env} is not set")
    return key


def _retry_after(e: BaseException | None) -> float | None:
    """The server's Retry-After, from our own retryable errors or an HTTP error's response."""
    if e is None:
        return None
    hint = getattr(e, "retry_after", None)
    if hint is not None:
        return float(hint)
    response = getattr(e, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def retry_policy(settings, retryable: Callable[[BaseException], bool]) -> dict:
    """tenacity arguments (for `Retrying` and `AsyncRetrying` alike): at most
    `settings.max_attempts` attempts of what `retryable` accepts, exponential backoff with full
    jitter, and at least what the server asked for (capped at `backoff_max_s`); the last error
    is re-raised, so it is what a failure records."""
    from tenacity import retry_if_exception, stop_after_attempt

    def wait(state) -> float:
        exp = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (state.attempt_number - 1))
        delay = random.uniform(0, exp)
        hint = _retry_after(state.outcome.exception() if state.outcome else None)
        return max(delay, min(hint, settings.backoff_max_s)) if hint is not None else delay

    return {
        "stop": stop_after_attempt(settings.max_attempts),
        "wait": wait,
        "retry": retry_if_exception(retryable),
        "reraise": True,
    }
