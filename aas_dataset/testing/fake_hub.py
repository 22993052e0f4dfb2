"""A loopback server for the part of the Hugging Face Hub HTTP API that `huggingface_hub` and
`datasets` use to publish and read a dataset repo: create it, commit files (every file is a
"regular" upload, so no LFS or Xet transfer is negotiated), tag a commit, list refs, describe a
revision, list its tree, give paths' info and resolve (download) files, with byte ranges.

State is in memory: each commit is a whole snapshot (path -> bytes) with its parent, so a tag
keeps pointing at exactly what it tagged. Faults can be injected per route (`Behaviour.faults`:
"commit" -> ["500", "429", "drop"]; "drop" reads the request and closes the connection without
answering or committing, as a connection lost mid-upload; "commit-stall" -> ["stall"] holds the
upload open for `stall_s` before reading it, so a test can kill the client mid-upload). Every
Authorization header is recorded, so a test can check a token was sent and appears nowhere else.

    python -m aas_dataset.testing.fake_hub --port 8766    # HF_ENDPOINT=http://127.0.0.1:8766
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def blob_oid(data: bytes) -> str:
    """git's blob id (what the Hub reports as a regular file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    at: float


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        rev = unquote(rev)
        oid = self.branches.get(rev) or self.tags.get(rev) or (rev if rev in self.commits else None)
        return self.commits.get(oid) if oid else None


@dataclass
class Behaviour:
    faults: dict[str, list[str]] = field(default_factory=dict)  # route -> faults to serve, in turn
    auth_headers: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    repos: dict[str, Repo] = field(default_factory=dict)
    stall_s: float = 5.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, route: str) -> str | None:
        with self._lock:
            queue = self.faults.get(route) or []
            return queue.pop(0) if queue else None

    def commit(self, repo: Repo, branch: str, message: str, files: dict, deleted: list[str], parent: str | None):
        with self._lock:
            head = repo.resolve(branch)
            if parent and head and parent != head.oid:
                raise ValueError(f"parent commit {parent} is not the head of {branch}")
            snapshot = dict(head.files) if head else {}
            for p in deleted:
                snapshot = {k: v for k, v in snapshot.items() if k != p and not k.startswith(p.rstrip("/") + "/")}
            snapshot.update(files)
            body = json.dumps(
                {
                    "parent": head.oid if head else None,
                    "message": message,
                    "files": {k: blob_oid(v) for k, v in sorted(snapshot.items())},
                },
                sort_keys=True,
            )
            oid = hashlib.sha1(body.encode()).hexdigest()
            repo.commits[oid] = Commit(oid, head.oid if head else None, message, snapshot, time.time())
            repo.branches[branch] = oid
            return oid


def _entry(path: str, data: bytes | None, commit: Commit) -> dict:
    if data is None:  # a directory
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
    return {"type": "file", "oid": blob_oid(data), "size": len(data), "path": path}


def _dirs(files: dict[str, bytes]) -> set[str]:
    out = set()
    for p in files:
        parts = p.split("/")[:-1]
        out |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    behaviour: Behaviour

    def log_message(self, *args):
        pass

    # --- plumbing ------------------------------------------------------------------------

    def _send(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        if raw is None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None):
        self._send(status, {"error": message}, {"X-Error-Message": message, **(headers or {})})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def _repo(self, kind: str, org: str, name: str) -> Repo | None:
        return self.behaviour.repos.get(f"{kind}:{org}/{name}")

    def _faulted(self, route: str) -> bool:
        f = self.behaviour.fault(route)
        if f == "500":
            self._error(500, "internal error")
        elif f == "429":
            self._error(429, "rate limited", {"Retry-After": "0"})
        elif f == "drop":
            self.close_connection = True
            self.connection.shutdown(2)  # no answer: the client sees the connection dropped
        return f is not None

    def _dispatch(self, method: str):
        b = self.behaviour
        b.auth_headers.add(self.headers.get("Authorization", ""))
        url = urlparse(self.path)
        b.requests.append((method, url.path))
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:2] == ["api", "validate-yaml"]:  # the card's YAML header: accepted as it is
                self._body()
                return self._send(200, {"errors": [], "warnings": []})
            if parts[:2] == ["api", "agent-harnesses"]:  # the client's agent-detection registry
                return self._send(200, {"standardEnvVars": [], "harnesses": {}})
            if parts[:3] == ["api", "repos", "create"] and method == "POST":
                return self._create(json.loads(self._body() or b"{}"))
            if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("datasets", "models", "spaces"):
                kind, org, name, rest = parts[1][:-1], parts[2], parts[3], parts[4:]
                return self._api(method, kind, org, name, rest, q)
            if len(parts) >= 5 and parts[0] in ("datasets", "spaces") and parts[3] == "resolve":
                return self._resolve(parts[0][:-1], parts[1], parts[2], parts[4], "/".join(parts[5:]))
            if len(parts) >= 4 and parts[2] == "resolve":  # a model repo
                return self._resolve("model", parts[0], parts[1], parts[3], "/".join(parts[4:]))
        except (ValueError, KeyError) as e:
            return self._error(400, f"bad request: {e}")
        return self._error(404, f"no route {method} {url.path}")

    do_GET = lambda self: self._dispatch("GET")  # noqa: E731
    do_HEAD = lambda self: self._dispatch("HEAD")  # noqa: E731
    do_POST = lambda self: self._dispatch("POST")  # noqa: E731

    # --- routes ----------------------------------------------------------------------------

    def _create(self, body: dict):
        kind = body.get("type") or "model"
        repo_id = f"{body.get('organization') or 'user'}/{body['name']}"
        key = f"{kind}:{repo_id}"
        prefix = "" if kind == "model" else f"{kind}s/"
        url = f"{self._base()}/{prefix}{repo_id}"
        with self.behaviour._lock:
            if key in self.behaviour.repos:  # the Hub's conflict answer names the repo's url too
                return self._send(
                    409,
                    {"error": "You already created this repo", "url": url},
                    {"X-Error-Message": "You already created this repo"},
                )
            self.behaviour.repos[key] = Repo(repo_id, kind)
        return self._send(200, {"url": url, "name": repo_id})

    def _api(self, method: str, kind: str, org: str, name: str, rest: list[str], q: dict):
        repo = self._repo(kind, org, name)
        if repo is None:
            return self._error(404, "Repository not found", {"X-Error-Code": "RepoNotFound"})
        route = rest[0] if rest else "revision"
        if route == "refs":

            def refs(d: dict, pre: str) -> list[dict]:
                return [{"name": n, "ref": f"refs/{pre}/{n}", "targetCommit": o} for n, o in sorted(d.items())]

            return self._send(
                200,
                {
                    "branches": refs(repo.branches, "heads"),
                    "tags": refs(repo.tags, "tags"),
                    "converts": [],
                    "pullRequests": [],
                },
            )
        rev = unquote(rest[1]) if len(rest) > 1 else "main"
        if route == "preupload" and method == "POST":
            head = repo.resolve(rev)
            files = json.loads(self._body())["files"]
            return self._send(200, {"files": [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                 "oid": blob_oid(head.files[f["path"]]) if head and f["path"] in head.files else None}
                for f in files
            ], "commitOid": head.oid if head else None})  # fmt: skip
        if route == "commit" and method == "POST":
            if self.behaviour.fault("commit-stall"):  # hold the upload open (a test kills the client)
                time.sleep(self.behaviour.stall_s)
            size = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(size)  # read whole before a fault, as a server would
            if len(body) < size:  # the client went away mid-upload: nothing is committed
                self.close_connection = True
                return None
            if self._faulted("commit"):
                return None
            lines = [json.loads(x) for x in body.splitlines() if x.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            files = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
            if any(x["key"] == "lfsFile" for x in lines):
                return self._error(400, "this server takes regular uploads only")
            deleted = [x["value"]["path"] for x in lines if x["key"] in ("deletedFile", "deletedFolder")]
            oid = self.behaviour.commit(
                repo, rev, header.get("summary", ""), files, deleted, header.get("parentCommit")
            )
            prefix = "" if kind == "model" else f"{kind}s/"
            return self._send(
                200,
                {"success": True, "commitOid": oid, "commitUrl": f"{self._base()}/{prefix}{repo.repo_id}/commit/{oid}"},
            )
        if route == "tag" and method == "POST":
            if self._faulted("tag"):
                return None
            target = repo.resolve(rev)
            tag = json.loads(self._body())["tag"]
            if target is None:
                return self._error(404, f"Revision {rev} not found", {"X-Error-Code": "RevisionNotFound"})
            with self.behaviour._lock:
                if tag in repo.tags:
                    return self._error(409, f"Tag {tag} already exists")
                repo.tags[tag] = target.oid
            return self._send(200, {})
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, f"Revision {rev} not found", {"X-Error-Code": "RevisionNotFound"})
        if route == "revision":
            return self._send(200, {
                "id": repo.repo_id, "_id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": commit.oid,
                "private": False, "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [],
                "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.at)),
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.at)),
                "siblings": [{"rfilename": p, "size": len(d)} for p, d in sorted(commit.files.items())],
            })  # fmt: skip
        if route == "tree":
            base = "/".join(unquote(x) for x in rest[2:]).strip("/")
            recursive = q.get("recursive", "").lower() in ("1", "true")
            entries = [_entry(d, None, commit) for d in sorted(_dirs(commit.files))]
            entries += [_entry(p, data, commit) for p, data in sorted(commit.files.items())]
            prefix = base + "/" if base else ""
            if base and base not in _dirs(commit.files):
                return self._error(404, f"{base} not found", {"X-Error-Code": "EntryNotFound"})
            out = [
                e
                for e in entries
                if e["path"].startswith(prefix) and (recursive or "/" not in e["path"][len(prefix) :])
            ]
            return self._send(200, out)
        if route == "paths-info" and method == "POST":
            raw = self._body()
            ctype = self.headers.get("Content-Type", "")
            paths = json.loads(raw).get("paths", []) if "json" in ctype else parse_qs(raw.decode()).get("paths", [])
            dirs = _dirs(commit.files)
            out = [_entry(p, commit.files.get(p), commit) for p in paths if p in commit.files or p in dirs]
            return self._send(200, out)
        return self._error(404, f"no route {route}")

    def _resolve(self, kind: str, org: str, name: str, rev: str, path: str):
        repo = self._repo(kind, org, name)
        if repo is None:
            return self._error(404, "Repository not found", {"X-Error-Code": "RepoNotFound"})
        commit = repo.resolve(rev)
        if commit is None:
            return self._error(404, f"Revision {rev} not found", {"X-Error-Code": "RevisionNotFound"})
        path = unquote(path)
        if path not in commit.files:
            return self._error(404, f"{path} not found", {"X-Error-Code": "EntryNotFound"})
        data = commit.files[path]
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob_oid(data)}"', "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            lo, _, hi = rng[len("bytes=") :].partition("-")
            lo_i = int(lo) if lo else max(0, len(data) - int(hi))
            hi_i = min(int(hi), len(data) - 1) if (hi and lo) else len(data) - 1
            part = data[lo_i : hi_i + 1]
            headers["Content-Range"] = f"bytes {lo_i}-{hi_i}/{len(data)}"
            return self._send(206, headers=headers, raw=part)
        return self._send(200, headers=headers, raw=data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a dropped connection is an expected event
        pass


class FakeHubServer:
    """`with FakeHubServer() as hub:` serves on 127.0.0.1; point HF_ENDPOINT at `hub.url`."""

    def __init__(self, behaviour: Behaviour | None = None, port: int = 0):
        self.behaviour = behaviour or Behaviour()
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeHubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:  # pragma: no cover - a server for manual runs
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="loopback Hugging Face Hub (dataset repos) on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    with FakeHubServer(port=a.port) as hub:
        print(hub.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":  # pragma: no cover
    main()
