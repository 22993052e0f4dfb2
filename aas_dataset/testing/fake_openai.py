"""A loopback OpenAI-compatible chat server for tests and benchmarks, with fault injection.

It answers the structured-output schemas of our instructions deterministically (the pairwise
judge picks the darker image, so its labels can be checked) and can inject, per request and
reproducibly from a seed: 429 with Retry-After, 500, a timeout (no answer in time), malformed
JSON, JSON of the wrong schema, a refusal, or a slow answer. A user text containing
ALWAYS_REFUSE is refused every time. It binds to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "timeout", "malformed", "schema", "refusal", "slow")


@dataclass
class Behaviour:
    latency_s: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    timeout_sleep_s: float = 2.0
    retry_after_s: float = 0.05
    seed: int = 0
    # True: answer without looking at the images (a stand-in endpoint for throughput runs)
    blind: bool = False
    # Batch API: how many retrieves report "in_progress" before a batch completes
    batch_polls: int = 1
    # True: each kind of request (reply schema) draws its faults from its own stream, in turn
    cycle_faults: bool = False
    # A hostile endpoint that echoes the caller's key: "error" (HTTP 400, a plain-text body) or
    # "reply" (HTTP 200, a reply that is not JSON); "" answers normally
    echo_key: str = ""
    # True: keep every POST body (path, body) in `received`, for tests of what is sent
    record: bool = False
    received: list = field(default_factory=list)
    # observed
    requests: int = 0
    batches_created: int = 0
    files: dict = field(default_factory=dict)
    batches: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    faults_injected: dict = field(default_factory=dict)
    faults_by_kind: dict = field(default_factory=dict)  # (reply schema name, fault) -> count
    auth_headers: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random | None = None
    _rngs: dict = field(default_factory=dict)

    def upload(self, raw: bytes, content_type: str) -> dict:
        """A multipart file upload (the Files API): keep the `file` part."""
        from email.parser import BytesParser

        msg = BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        data = next(
            p.get_payload(decode=True)
            for p in msg.get_payload()
            if p.get_param("name", header="content-disposition") == "file"
        )
        with self._lock:
            fid = f"file-{len(self.files)}"
            self.files[fid] = data
        return {
            "id": fid,
            "object": "file",
            "bytes": len(data),
            "created_at": 0,
            "filename": "requests.jsonl",
            "purpose": "batch",
            "status": "processed",
        }

    def create_batch(self, body: dict) -> dict:
        """Answer every line now (faults drawn per line); report completion after `batch_polls` polls."""
        out, err = [], []
        for line in self.files[body["input_file_id"]].decode().splitlines():
            req = json.loads(line)
            fault = self.draw()
            if fault == "timeout":
                err.append(
                    {
                        "id": "e",
                        "custom_id": req["custom_id"],
                        "response": None,
                        "error": {"code": "timeout", "message": "the request timed out"},
                    }
                )
                continue
            status, payload, _ = completion(self, req["body"], fault)
            out.append(
                {
                    "id": "r",
                    "custom_id": req["custom_id"],
                    "error": None,
                    "response": {"status_code": status, "request_id": "x", "body": payload},
                }
            )
        with self._lock:
            self.batches_created += 1
            bid = f"batch-{len(self.batches)}"
            ofid, efid = f"file-{len(self.files)}", f"file-{len(self.files) + 1}"
            self.files[ofid] = "".join(json.dumps(x) + "\n" for x in out).encode()
            self.files[efid] = "".join(json.dumps(x) + "\n" for x in err).encode()
            self.batches[bid] = {
                "id": bid,
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "created_at": 0,
                "status": "in_progress",
                "output_file_id": None,
                "error_file_id": None,
                "_polls": 0,
                "_files": (ofid, efid),
                "request_counts": {"total": len(out) + len(err), "completed": len(out), "failed": len(err)},
            }
        return self._public(bid)

    def create_prediction(self, body: dict, fault: str | None, base: str) -> dict:
        with self._lock:
            pid = f"p{len(self.predictions)}"
            self.predictions[pid] = {"id": pid, "input": body.get("input", {}), "_polls": 0, "_fault": fault}
        return self.poll_prediction(pid, base, count=False)

    def poll_prediction(self, pid: str, base: str, count: bool = True) -> dict:
        """Replicate's prediction object: starting/processing until `batch_polls` polls, then
        succeeded (output: a list of URLs), or failed / empty under an injected fault."""
        p = self.predictions[pid]
        if count:
            p["_polls"] += 1
        out = {"id": pid, "input": p["input"], "status": "processing", "output": None, "error": None}
        out["urls"] = {"get": f"{base}/predictions/{pid}"}
        if p["_polls"] >= self.batch_polls:
            if p["_fault"] == "refusal":
                out.update(status="failed", error="content flagged as sensitive")
            elif p["_fault"] in ("malformed", "schema"):
                out.update(status="succeeded", output=[])
            else:
                out.update(status="succeeded", output=[f"{base}/outputs/{pid}.png"])
        return out

    def poll_batch(self, bid: str) -> dict:
        with self._lock:
            bt = self.batches[bid]
            bt["_polls"] += 1
            if bt["_polls"] >= self.batch_polls:
                bt["status"] = "completed"
                bt["output_file_id"], bt["error_file_id"] = bt["_files"]
        return self._public(bid)

    def _public(self, bid: str) -> dict:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def draw(self, kind: str = "") -> str | None:
        """The fault for the next request of `kind` (its reply schema's name), or None. With
        `cycle_faults`, each kind has its own seeded stream and its faulted requests take the
        fault kinds in turn, so every kind of request meets every fault."""
        with self._lock:
            self.requests += 1
            if self.cycle_faults:
                rng = self._rngs.setdefault(kind, random.Random(f"{self.seed}:{kind}"))
            else:
                if self._rng is None:
                    self._rng = random.Random(self.seed)
                rng = self._rng
            if rng.random() >= self.fault_rate:
                return None
            if self.cycle_faults:
                n = sum(v for (k, _), v in self.faults_by_kind.items() if k == kind)
                f = self.faults[n % len(self.faults)]
            else:
                f = rng.choice(self.faults)
            self.faults_injected[f] = self.faults_injected.get(f, 0) + 1
            self.faults_by_kind[(kind, f)] = self.faults_by_kind.get((kind, f), 0) + 1
            return f


def _brightness(data_url: str) -> float:
    from PIL import Image

    png = base64.b64decode(data_url.split(",", 1)[1])
    from PIL import ImageStat

    return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).mean[0]


def picture(prompt: str) -> bytes:
    """A 32x32 PNG whose colour is a function of the prompt (darker for 'dark' prompts)."""
    import hashlib

    from PIL import Image

    h = hashlib.sha256(prompt.encode()).digest()
    scale = 0.3 if "dark" in prompt.lower() else 1.0
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), tuple(int(c * scale) for c in h[:3])).save(buf, format="PNG")
    return buf.getvalue()


def embedding(item: dict) -> list[float]:
    """An 8-d vector: for an image, its darkness in the first axis; for a text, 'dark' words
    point along that axis; the rest is a hash of the input (deterministic)."""
    import hashlib

    part = item["content"][0]
    if part["type"] == "image_url":
        dark = 1 - _brightness(part["image_url"]["url"]) / 255
        seed = part["image_url"]["url"][-64:]
    else:
        dark = 1.0 if any(w in part["text"].lower() for w in ("dark", "underexposed", "night")) else 0.0
        seed = part["text"]
    h = hashlib.sha256(seed.encode()).digest()
    return [3 * dark - 1.5] + [(b - 128) / 512 for b in h[:7]]


def answer(body: dict) -> dict:
    """The JSON object a well-behaved model would return for this request (chosen by the reply
    schema's name: the authors' schema names, as the backends send them)."""
    fmt = body.get("response_format") or {}
    name = (fmt.get("json_schema") or {}).get("name", "")
    user = body["messages"][-1]["content"]
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user if p.get("type") == "text")
    images = [] if isinstance(user, str) else [p["image_url"]["url"] for p in user if p.get("type") == "image_url"]
    if name == "PreferenceSelection" or '"selection"' in text:
        if len(images) != 2:
            return {"selection": -1}
        a, b = (_brightness(u) for u in images)
        return {"selection": -1 if abs(a - b) < 1e-9 else (0 if a < b else 1)}
    if name == "JudgeResponse":
        dark = 100 - int(_brightness(images[0]) / 255 * 100) if images else 50
        return {
            "reasoning": "listed the requested effects and checked each",
            "main_concepts": 60,
            "special_effects": dark,
        }
    if name == "Response":  # real-photo curation: a dark photo is anti-aesthetic, others are normal
        if images and _brightness(images[0]) < 100:
            return {
                "thinking": "the frame is mostly crushed shadow",
                "anti_aesthetic_elements": ["lighting_and_exposure.exposure_extremes"],
                "clean_caption": "a street",
                "anti_aesthetic_caption": "A street at night. Deep underexposure swallows almost every detail.",
            }
        return {
            "thinking": "a normal photograph",
            "anti_aesthetic_elements": [],
            "clean_caption": None,
            "anti_aesthetic_caption": None,
        }
    if name == "EmotionPrompt":
        return {"prompt": f"A person in a room, {len(images)} views, the face showing a [emotion] expression."}
    if name == "ArtCaption":
        tone = "dark" if images and _brightness(images[0]) < 100 else "light"
        return {"caption": f"A painting in {tone} tones with visible brushstrokes."}
    if name == "NegativeReply":
        return {"negative_prompt": "sharp bright clean image"}
    # a rewrite: the request's own words, darkened (deterministic in the request)
    words = [w for w in text.replace("\n", " ").split() if w.isalpha()][:8]
    return {"long_description": f"{' '.join(words)}, sunk in murky darkness and smeared blur"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds
    # ~40 ms to every answer on a kept-alive connection.
    disable_nagle_algorithm = True
    behaviour: Behaviour

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload: dict | str, headers: dict | None = None):
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        b = self.behaviour
        b.auth_headers.add(self.headers.get("Authorization", ""))
        if self.path.endswith("/files"):
            return self._send(200, b.upload(raw, self.headers.get("Content-Type", "")))
        body = json.loads(raw or b"{}")
        if b.echo_key:
            return self._echo(self.headers.get("Authorization", "").removeprefix("Bearer "))
        if b.record:
            with b._lock:
                b.received.append((self.path, body))
        if self.path.endswith("/predictions"):  # Replicate: /v1/models/{owner}/{name}/predictions
            fault = b.draw()
            if fault in ("429", "500"):
                return self._send(*completion(b, {"messages": [{"content": ""}]}, fault)[:2])
            return self._send(201, b.create_prediction(body, fault, self._base()))
        if self.path.endswith("/batches"):
            return self._send(200, b.create_batch(body))
        if self.path.endswith("/images/generations"):
            fault = b.draw()
            if b.latency_s:
                time.sleep(b.latency_s)
            if fault in ("429", "500"):
                return self._send(*completion(b, body, fault)[:2])
            ok = fault not in ("malformed", "schema", "refusal")
            data = [{"b64_json": base64.b64encode(picture(body.get("prompt", ""))).decode()}] if ok else []
            return self._send(200, {"created": 0, "data": data, "usage": {"input_tokens": 10, "output_tokens": 100}})
        if self.path.endswith("/embeddings"):
            fault = b.draw("embeddings")
            if fault in ("429", "500"):
                return self._send(*completion(b, {"messages": [{"content": ""}]}, fault)[:2])
            data = [{"object": "embedding", "index": i, "embedding": embedding(x)} for i, x in enumerate(body["input"])]
            return self._send(200, {"object": "list", "data": data, "usage": {"prompt_tokens": len(data)}})
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        fault = b.draw(((body.get("response_format") or {}).get("json_schema") or {}).get("name", "image"))
        if b.latency_s:
            time.sleep(b.latency_s * (3 if fault == "slow" else 1))
        if fault == "timeout":
            time.sleep(b.timeout_sleep_s)
        status, payload, headers = completion(b, body, fault)
        self._send(status, payload, headers)

    def _echo(self, key: str):
        if self.behaviour.echo_key == "error":
            return self._send(400, f"<html>invalid api key {key} for this route</html>")
        message = {"role": "assistant", "content": f"Your key {key} is not allowed to use this model."}
        return self._send(200, {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message}]})

    def _base(self) -> str:
        return f"http://{self.headers.get('Host')}/v1"

    def do_GET(self):
        b = self.behaviour
        parts = self.path.rstrip("/").split("/")
        b.auth_headers.add(self.headers.get("Authorization", ""))
        if len(parts) >= 2 and parts[-2] == "predictions" and parts[-1] in b.predictions:
            return self._send(200, b.poll_prediction(parts[-1], self._base()))
        if len(parts) >= 2 and parts[-2] == "outputs" and parts[-1].removesuffix(".png") in b.predictions:
            data = picture(b.predictions[parts[-1].removesuffix(".png")]["input"].get("prompt", ""))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        if len(parts) >= 2 and parts[-2] == "batches" and parts[-1] in b.batches:
            return self._send(200, b.poll_batch(parts[-1]))
        if parts[-1] == "content" and parts[-2] in b.files:
            data = b.files[parts[-2]]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._send(404, {"error": {"message": f"no route {self.path}"}})


def completion(b: Behaviour, body: dict, fault: str | None) -> tuple[int, dict, dict]:
    """(status, payload, headers) of a chat completion under an injected fault (or none)."""
    if fault == "429":
        return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": str(b.retry_after_s)}
    if fault == "500":
        return 500, {"error": {"message": "internal error"}}, {}
    user = body["messages"][-1]["content"]
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user if p.get("type") == "text")
    # an image-output chat model (Nano Banana style): asked for image output, or for no JSON
    if "image" in (body.get("modalities") or []) or "response_format" not in body:
        if fault in ("malformed", "schema", "refusal"):
            message = {"role": "assistant", "content": "Here is a description of the image instead."}
        else:
            url = "data:image/png;base64," + base64.b64encode(picture(text)).decode()
            message = {"role": "assistant", "content": "", "images": [{"type": "image_url", "image_url": {"url": url}}]}
        return (
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", ""),
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {},
            },
            {},
        )
    content = {"selection": 0} if b.blind else answer(body)
    message: dict = {"role": "assistant", "content": json.dumps(content)}
    if fault == "refusal" or "ALWAYS_REFUSE" in text:
        message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    elif fault == "malformed":
        message["content"] = '{"selection": 1,,'
    elif fault == "schema":
        message["content"] = json.dumps({"unexpected": True})
    reply = {
        "id": f"chatcmpl-{b.requests}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        "usage": {"prompt_tokens": 100 + 50 * text.count(" "), "completion_tokens": 20, "total_tokens": 0},
    }
    return 200, reply, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 refuses bursts of new connections

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out and left
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """`with FakeOpenAIServer(Behaviour(latency_s=0.05)) as srv: srv.base_url`"""

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.server = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:  # pragma: no cover - used by benchmarks to serve from another process
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="fake OpenAI-compatible chat server on 127.0.0.1")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--blind", action="store_true", help="answer without decoding images")
    a = ap.parse_args()
    with FakeOpenAIServer(Behaviour(latency_s=a.latency, fault_rate=a.fault_rate, blind=a.blind)) as srv:
        print(srv.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin


if __name__ == "__main__":  # pragma: no cover
    main()
