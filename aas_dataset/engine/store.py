"""Content-addressed artifact store.

One unit of work = one artifact directory `<root>/<stage>/<key[:2]>/<key>/`, written into a
temp directory and renamed into place, so an artifact is either complete or absent: its
existence is the completion marker. Failures are recorded beside it (`<root>/failures/`),
never as artifacts, so a rerun retries them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from aas_dataset.util import crash_point, owned_tmpdir, write_json_atomic


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"  # made on the first write: a plan writes nothing
        self._writes: dict[str, int] = {}  # artifacts written per stage by this process (crash tests)

    def clean_tmp(self) -> None:
        """Remove half-written artifacts of crashed processes on this host.

        Temp names carry host and pid, so a build sharing the store (another Slurm job, a
        worker) never has its in-progress files removed.
        """
        host = socket.gethostname()
        for p in self.tmp.iterdir() if self.tmp.is_dir() else ():
            h, _, rest = p.name.partition(".")
            pid = rest.partition(".")[0]
            if h != host or not pid.isdigit() or _alive(int(pid)):
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def spec(self) -> tuple:
        """What `open_store` rebuilds this store from (in a worker process or a Ray task)."""
        return (str(self.root),)

    def mkdtemp(self, label: str) -> Path:
        return owned_tmpdir(self.tmp, label)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_dir()

    def write(self, stage: str, key: str, files: dict[str, bytes]) -> None:
        final = self.path(stage, key)
        if final.is_dir():
            return
        tmp = self.mkdtemp(f"{stage}-{key[:8]}")
        try:
            for name, data in files.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            self._writes[stage] = n = self._writes.get(stage, 0) + 1
            crash_point(f"write:{stage}:{n}")  # the n-th artifact of the stage half-written
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # another worker finishing the same unit is fine
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.clear_failure(stage, key)

    def read(self, stage: str, key: str, name: str) -> bytes:
        return (self.path(stage, key) / name).read_bytes()

    def read_json(self, stage: str, key: str, name: str = "meta.json") -> dict[str, Any]:
        return json.loads(self.read(stage, key, name))

    # --- failures -----------------------------------------------------------------------

    def _failure_path(self, stage: str, key: str) -> Path:
        return self.root / "failures" / stage / f"{key}.json"

    def record_failure(self, stage: str, key: str, info: dict[str, Any]) -> None:
        write_json_atomic(self._failure_path(stage, key), info)

    def clear_failure(self, stage: str, key: str) -> None:
        self._failure_path(stage, key).unlink(missing_ok=True)

    def failure(self, stage: str, key: str) -> dict[str, Any] | None:
        p = self._failure_path(stage, key)
        return json.loads(p.read_text()) if p.is_file() else None


class ObjectStore(Store):
    """The same store on an fsspec URL (`s3://`, `gs://`, `memory://`, ...), for builds whose
    nodes share a bucket instead of a filesystem.

    Object stores have no atomic rename of a directory, so a unit is published by writing its
    files first and then one small marker object, `<unit>/.complete`, in a single final put:
    a unit exists iff its marker does, which is checked with one request (no listing, which
    object stores may serve stale). A crash leaves files without a marker: invisible, and
    overwritten by the rerun. Failures are objects beside the units (`<url>/failures/`). What
    needs a POSIX filesystem stays in `local` (the LLM response cache is SQLite; caption and
    official-text caches; temporary folders of the assembly)."""

    MARKER = ".complete"

    def __init__(self, url: str, local: Path):
        import fsspec

        super().__init__(Path(local))
        self.url = url.rstrip("/")
        self.fs, _ = fsspec.core.url_to_fs(self.url)

    def spec(self) -> tuple:
        return (self.url, str(self.root))

    def _unit(self, stage: str, key: str) -> str:
        return f"{self.url}/{stage}/{key[:2]}/{key}"

    def has(self, stage: str, key: str) -> bool:
        return self.fs.exists(f"{self._unit(stage, key)}/{self.MARKER}")

    def write(self, stage: str, key: str, files: dict[str, bytes]) -> None:
        if self.has(stage, key):
            return
        unit = self._unit(stage, key)
        for name, data in files.items():
            self.fs.pipe_file(f"{unit}/{name}", data)
        self._writes[stage] = n = self._writes.get(stage, 0) + 1
        crash_point(f"write:{stage}:{n}")  # files written, the marker not yet
        self.fs.pipe_file(f"{unit}/{self.MARKER}", b"")
        self.clear_failure(stage, key)

    def read(self, stage: str, key: str, name: str) -> bytes:
        return self.fs.cat_file(f"{self._unit(stage, key)}/{name}")

    def _failure_url(self, stage: str, key: str) -> str:
        return f"{self.url}/failures/{stage}/{key}.json"

    def record_failure(self, stage: str, key: str, info: dict[str, Any]) -> None:
        self.fs.pipe_file(self._failure_url(stage, key), json.dumps(info, sort_keys=True, indent=1).encode())

    def clear_failure(self, stage: str, key: str) -> None:
        if self.fs.exists(u := self._failure_url(stage, key)):
            self.fs.rm_file(u)

    def failure(self, stage: str, key: str) -> dict[str, Any] | None:
        u = self._failure_url(stage, key)
        return json.loads(self.fs.cat_file(u)) if self.fs.exists(u) else None


def open_store(root: str | Path, local: str | Path | None = None) -> Store:
    """A store at a local path, or at an fsspec URL with `local` for what must stay on disk."""
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        if local is None:
            raise ValueError(f"a store at {text} needs a local folder for its caches")
        return ObjectStore(text, Path(local))
    return Store(Path(text.removeprefix("file://")))
