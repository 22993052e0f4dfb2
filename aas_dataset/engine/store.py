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
