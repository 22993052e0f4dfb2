"""OpenAI Batch API mode for `LLMClient`: the uncached requests go out as one JSONL job.

Resumable across process restarts: every submitted request's custom id (its cache key) is
recorded with its batch id in the response-cache database before polling starts, so a
restarted process polls the batches already in flight instead of paying for them twice.
Only the custom ids that came back failed (a non-200 line, a line in the error file, a reply
that fails validation) or never came back are resubmitted, for at most `max_attempts` rounds.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence

from aas_dataset.backends.llm.client import LLMClient, Reply, ReplyInvalid, Request
from aas_dataset.util import excerpt

TERMINAL = {"completed", "failed", "expired", "cancelled"}


class _Jobs:
    """custom id -> batch id of the live job carrying it, kept beside the response cache."""

    def __init__(self, client: LLMClient):
        if client.cache is None:
            raise RuntimeError("batch_api needs the response cache (run it inside a build)")
        self.db = client.cache._db
        self.lock = client.cache._lock
        with self.lock:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS batch_jobs (custom_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL)"
            )
            self.db.commit()

    def live(self, ids: Sequence[str]) -> dict[str, str]:
        with self.lock:
            rows = self.db.execute("SELECT custom_id, batch_id FROM batch_jobs").fetchall()
        wanted = set(ids)
        return {c: b for c, b in rows if c in wanted}

    def add(self, batch_id: str, ids: Sequence[str]) -> None:
        with self.lock:
            self.db.executemany("INSERT OR REPLACE INTO batch_jobs VALUES (?, ?)", [(c, batch_id) for c in ids])
            self.db.commit()

    def done(self, batch_id: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM batch_jobs WHERE batch_id = ?", (batch_id,))
            self.db.commit()


def _poll(sdk, batch_id: str, every: float):
    while True:
        b = sdk.batches.retrieve(batch_id)
        if b.status in TERMINAL:
            return b
        time.sleep(every)


def _lines(sdk, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    text = sdk.files.content(file_id).text
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


class BatchClient(LLMClient):
    """An `LLMClient` whose `run` sends the uncached requests as Batch API jobs."""

    def run(self, reqs: Sequence[Request], on_result=None) -> list[Reply | BaseException]:
        out = run_batch_api(self, reqs)
        if on_result is not None:
            for i, r in enumerate(out):
                on_result(i, r)
        return out


def make_client(model: str, settings, cache_path, label: str = "llm") -> LLMClient:
    """The client a backend's settings ask for: live requests, or Batch API jobs (`batch_api`)."""
    cls = BatchClient if getattr(settings, "batch_api", False) else LLMClient
    return cls(model, settings, cache_path, label=label)


def run_batch_api(client: LLMClient, reqs: Sequence[Request]) -> list[Reply | BaseException]:
    from openai import OpenAI

    s = client.settings
    sdk = OpenAI(**client._client_args)
    jobs = _Jobs(client)
    keys = [client.cache_key(r) for r in reqs]
    by_key = dict(zip(keys, reqs, strict=True))
    results: dict[str, Reply | BaseException] = {}
    for k, r in by_key.items():
        if (hit := client._cached(k, r)) is not None:
            results[k] = hit
    errors: dict[str, str] = {}
    for _round in range(s.max_attempts):
        missing = [k for k in by_key if k not in results]
        if not missing:
            break
        live = jobs.live(missing)
        fresh = [k for k in missing if k not in live]
        if fresh:
            payload = "".join(
                json.dumps(
                    {"custom_id": k, "method": "POST", "url": "/v1/chat/completions", "body": client._body(by_key[k])}
                )
                + "\n"
                for k in fresh
            ).encode()
            f = sdk.files.create(file=("requests.jsonl", io.BytesIO(payload)), purpose="batch")
            batch = sdk.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window=s.batch_window
            )
            client.calls += len(fresh)
            jobs.add(batch.id, fresh)  # recorded before polling: a restart resumes this job
            live.update(dict.fromkeys(fresh, batch.id))
        for batch_id in sorted(set(live.values())):
            b = _poll(sdk, batch_id, s.batch_poll_s)
            for line in _lines(sdk, b.output_file_id) + _lines(sdk, b.error_file_id):
                k = line.get("custom_id")
                if k not in by_key or k in results:
                    continue
                resp = line.get("response") or {}
                if line.get("error") or resp.get("status_code") != 200:
                    err = line.get("error") or {"message": f"HTTP {resp.get('status_code')}"}
                    errors[k] = excerpt(err.get("message", err), 200)
                    continue
                try:
                    reply = client._parse(resp.get("body") or {}, by_key[k])
                except ReplyInvalid as e:
                    errors[k] = str(e)
                    continue
                client._remember(k, reply)
                results[k] = reply
            if b.status != "completed":
                for k, bid in live.items():
                    if bid == batch_id and k not in results:
                        errors.setdefault(k, f"batch {b.status}")
            jobs.done(batch_id)
    sdk.close()
    return [results.get(k) or ReplyInvalid(errors.get(k, "no answer in the batch results")) for k in keys]
