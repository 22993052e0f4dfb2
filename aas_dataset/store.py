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
import tempfile
from pathlib import Path
from typing import Any

from .util import write_json_atomic


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def clean_tmp(self) -> None:
        """Remove half-written artifacts left by a crash (safe: nothing reads tmp/)."""
        for p in self.tmp.iterdir():
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / key

    def has(self, stage: str, key: str) -> bool:
        return self.path(stage, key).is_dir()

    def write(self, stage: str, key: str, files: dict[str, bytes]) -> None:
        final = self.path(stage, key)
        if final.is_dir():
            return
        tmp = Path(tempfile.mkdtemp(prefix=f"{stage}-{key[:8]}-", dir=self.tmp))
        try:
            for name, data in files.items():
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
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
