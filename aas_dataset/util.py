"""Small shared helpers: canonical hashing, derived seeds, atomic file writes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """The one base of every settings, recipe and reply model: an unknown key is an error.

    `TRANSPORT` names settings that change how results are fetched, never what they are (an
    endpoint's address, concurrency, timeouts, retries, prices): they stay out of every cache
    key, so changing them regenerates nothing."""

    model_config = ConfigDict(extra="forbid")
    TRANSPORT: ClassVar[frozenset[str]] = frozenset()

    def identity(self) -> dict:
        """The settings that decide outputs (all but TRANSPORT), as JSON."""
        return self.model_dump(mode="json", exclude=set(self.TRANSPORT))


# Secrets: values of these variables never reach an output file, a store record or the console.
# The Hub token always; every variable a catalog entry names as its key (registered when the
# entry is resolved or the key read); and, by name, anything that looks like a credential.
_SECRET_VARS: set[str] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}
_SECRET_LOOKING = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def register_secret(env_var: str) -> None:
    """Treat the value of `env_var` as a secret from now on, whatever its name."""
    _SECRET_VARS.add(env_var)


def redact(text: str) -> str:
    """`text` with every secret value replaced by the name of its variable. Apply before any
    truncation: a cut-off key would no longer match. A named key is redacted at any length;
    a variable matched only by its name's look needs 8+ characters (so that e.g.
    TOKENIZERS_PARALLELISM=false does not blank every "false")."""
    found = []
    for name, value in os.environ.items():
        if not value:
            continue
        if name in _SECRET_VARS or (len(value) >= 8 and any(w in name.upper() for w in _SECRET_LOOKING)):
            found.append((value, name))
    for value, name in sorted(found, key=lambda vn: -len(vn[0])):  # longest first: one may contain another
        text = text.replace(value, f"<${name}>")
    return text


def excerpt(text: object, limit: int) -> str:
    """At most `limit` characters of an outside text (a reply, an error body) for a message:
    the first ones, or the last ones when `limit` is negative; redacted before it is cut."""
    clean = redact(str(text))
    return clean[limit:] if limit < 0 else clean[:limit]


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(obj: Any, length: int = 40) -> str:
    """Stable hex digest of any JSON-serialisable value."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed that depends only on `parts` (e.g. recipe seed, model, index, variant)."""
    h = hashlib.sha256(canonical_json(list(parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") & (2**63 - 1)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def owned_tmpdir(parent: Path, label: str) -> Path:
    """A new temp folder in `parent` whose name carries this host and pid, so a later run can
    tell a crashed process's leftovers from a live one's (`Store.clean_tmp`)."""
    import socket

    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}.{os.getpid()}.{label}-", dir=parent))


def crash_point(name: str) -> None:
    """Test hook for the crash tests: with `AAS_CRASH_AT=<name>` in the environment, the process
    kills itself here with SIGKILL, so a test can interrupt a build at a chosen moment of its
    progress (a given artifact half-written, the release half swapped in) instead of at a
    random time. Unset, it costs one environment lookup."""
    if os.environ.get("AAS_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        crash_point(f"atomic:{path.name}")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; release files are meant to be read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode())


def png_bytes(image) -> bytes:
    """Lossless PNG with fixed encoder settings and no metadata, so bytes are reproducible."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6, optimize=False)
    return buf.getvalue()


def run_grouped(keys: list, run) -> list:
    """Call `run(key, indices)` once per distinct key (in first-seen order) and return its
    results put back at their indices: one batched call per group of items that must be
    processed alike (same conditioning, same mask, same padded length)."""
    groups: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    out: list[Any] = [None] * len(keys)
    for k, idx in groups.items():
        for i, r in zip(idx, run(k, idx), strict=True):
            out[i] = r
    return out
