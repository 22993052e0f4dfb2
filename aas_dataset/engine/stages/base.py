"""What a model stage is: units with content-addressed keys, and a batched `run_batch`.

A unit's key hashes the stage version, the backend spec and the keys of the artifacts it
reads, so keys are known before anything runs (`aas build --plan`) and a changed setting
recomputes exactly the units downstream of it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aas_dataset.engine.store import Store
from aas_dataset.util import digest


@dataclass(frozen=True)
class Unit:
    stage: str
    key: str
    group: str  # catalog name of the backend that runs it
    payload: dict = field(hash=False, compare=False)
    requires: tuple[tuple[str, str], ...] = ()  # (stage, key) artifacts it reads


def unit_key(stage: str, version: int, spec_hash: str, **inputs: Any) -> str:
    return digest({"stage": stage, "version": version, "spec": spec_hash, "inputs": inputs})


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=1).encode()


def load_image(data: bytes):
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    return im


class Stage:
    name: ClassVar[str]
    VERSION: ClassVar[int] = 1
    RECORD: ClassVar[type]  # what its artifact holds (`engine.records`)

    def run_batch(self, backend, units: list[Unit], store: Store) -> list[dict[str, bytes] | Exception]:
        """Run a batch; return the artifact files for each unit, or the exception it failed with."""
        raise NotImplementedError

    # The release is a join the assembly does not need to understand. A stage either OWNS
    # configs (yields their rows, one per unit of its own, keyed by that unit's key) or
    # ATTACHES to one stage's rows: each of its units names the owner unit it belongs to
    # (`payload[JOIN]`), and it adds columns filled from its record.
    OWNS: ClassVar[tuple[str, ...]] = ()
    ATTACHES: ClassVar[tuple[str, ...]] = ()
    JOIN: ClassVar[str] = ""

    def rows(self, ctx, config: str):
        """(owner unit key, row) of `config` for every unit with an artifact (owners only)."""
        return iter(())

    def shard_rows(self, recipe, config: str) -> int:
        """Rows per Parquet shard of `config` (owners only)."""
        return 100_000  # image-free configs stay one file until they are large

    def columns(self, model) -> tuple:
        """The `spec.schema.Column`s `model` adds to each row it attaches to."""
        return ()

    def row_values(self, model, record) -> dict:
        """Those columns' values for one row (`record` is None when the unit has no artifact)."""
        return {}
