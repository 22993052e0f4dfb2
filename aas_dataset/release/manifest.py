"""MANIFEST.json (every file's sha256, bytes and rows; the resolved recipe; software) and the
`verify` stage that checks a release folder against it."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aas_dataset.spec.schema import SchemaError, validate_table
from aas_dataset.util import sha256_file, write_json_atomic

MANIFEST = "MANIFEST.json"
FORMAT = 1
IGNORED_DIRS = (".aas", ".cache", ".git", "report", "annotations")  # local state, derived reports, people's answers
_SOFTWARE = (
    "aas_dataset",
    "datasets",
    "huggingface-hub",
    "pyarrow",
    "numpy",
    "pillow",
    "torch",
    "diffusers",
    "transformers",
)


def software_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_entry(root: Path, rel: str, **extra) -> dict:
    p = root / rel
    return {"sha256": sha256_file(p), "bytes": p.stat().st_size, **extra}


def build_manifest(
    root: Path,
    files: list[dict],
    *,
    name: str,
    version: str,
    build_key: str,
    recipe: dict,
    recipe_hash: str,
    counts: dict,
    failures: list[dict],
    usage: dict | None = None,
) -> dict:
    entries = {f["path"]: file_entry(root, f["path"], config=f["config"], rows=f["rows"]) for f in files}
    entries["README.md"] = file_entry(root, "README.md")
    return {
        "format": FORMAT,
        "name": name,
        "version": version,
        "build_key": build_key,
        "recipe_hash": recipe_hash,
        "recipe": recipe,
        "software": software_versions(),
        "counts": counts,
        "failures": failures,
        "usage": usage or {},
        "files": dict(sorted(entries.items())),
    }


class FileEntry(BaseModel):
    model_config = ConfigDict(strict=True)  # "12" is not a size
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    rows: int | None = Field(default=None, ge=0)
    config: str | None = None
    export: str | None = None


class ManifestShape(BaseModel):
    """What every reader of a MANIFEST relies on (newer keys are allowed and kept)."""

    model_config = ConfigDict(extra="allow", strict=True)
    format: Literal[1]
    name: str
    version: str
    recipe_hash: str = ""
    recipe: dict = {}
    counts: dict = {}
    failures: list[dict] = []
    usage: dict = {}
    files: dict[str, FileEntry]

    @field_validator("files")
    @classmethod
    def _inside(cls, files: dict) -> dict:
        for rel in files:
            if not inside_release(rel):
                raise ValueError(f"file path {rel!r} leads outside the release folder")
        return files


def inside_release(rel: str) -> bool:
    """A MANIFEST path names a file inside its folder: relative, forward slashes, no `..`."""
    parts = rel.split("/")
    return (
        bool(rel)
        and "\\" not in rel
        and not rel.startswith("/")
        and ":" not in parts[0]
        and not ({"", ".", ".."} & set(parts))
    )


def read_manifest(root: Path) -> dict:
    """The MANIFEST as a dict, its shape checked (one line naming the key otherwise)."""
    p = Path(root) / MANIFEST
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no MANIFEST.json (not a built release, or a build was interrupted)")
    try:
        m = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not valid JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError(f"{p}: not a MANIFEST of format {FORMAT}")
    try:
        ManifestShape.model_validate(m)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"{p}: {where}: {err['msg']}") from None
    return m


def drop_files(root: Path, paths: list[str]) -> dict:
    """Forget files in the MANIFEST (before they are replaced), atomically."""
    m = read_manifest(root)
    m["files"] = {k: v for k, v in m["files"].items() if k not in set(paths)}
    write_json_atomic(Path(root) / MANIFEST, m)
    return m


def add_files(root: Path, entries: dict[str, dict]) -> dict:
    """Record extra files (e.g. a WebDataset export) in the MANIFEST, atomically."""
    m = read_manifest(root)
    m["files"] = dict(sorted({**m["files"], **entries}.items()))
    write_json_atomic(Path(root) / MANIFEST, m)
    return m


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _verify_shard(p: Path, rel: str, f: dict, schemas: dict, res: VerifyResult) -> None:
    """Schema, values and row count of one shard, one row group in memory at a time."""
    import pyarrow as pa

    pf = pq.ParquetFile(p, pre_buffer=False)
    schema = pf.schema_arrow.remove_metadata()
    # every shard of a config has one schema (families allow columns a shard must not add)
    first, expected = schemas.setdefault(f["config"], (rel, schema))
    if not schema.equals(expected):
        res.problems.append(f"{rel}: columns {schema.names} differ from {first}'s")
    rows = 0
    for g in range(pf.num_row_groups):
        validate_table(pf.read_row_group(g), f["config"], rel, row_offset=rows)
        rows += pf.metadata.row_group(g).num_rows
        pa.default_memory_pool().release_unused()  # a freed row group is not kept for the next
    if pf.num_row_groups == 0:
        validate_table(pf.schema_arrow.empty_table(), f["config"], rel)
    if rows != f["rows"]:
        res.problems.append(f"{rel}: {rows} rows, MANIFEST says {f['rows']}")


def verify(root: Path, deep: bool = True) -> VerifyResult:
    """Check every MANIFEST file's size and sha256, Parquet row counts and schemas, and that no
    unlisted file sits in the release."""
    root = Path(root)
    res = VerifyResult()
    try:
        m = read_manifest(root)
    except (FileNotFoundError, ValueError) as e:
        res.problems.append(str(e))
        return res
    schemas: dict[str, tuple[str, object]] = {}  # config -> (first shard, its schema)
    inside = root.resolve()
    for rel, f in m["files"].items():
        p = root / rel
        res.checked += 1
        if p.is_symlink() or not p.resolve().is_relative_to(inside):  # never read outside the folder
            res.problems.append(f"{rel}: a link; a release holds its files itself")
            continue
        if not p.is_file():
            res.problems.append(f"{rel}: missing")
            continue
        if p.stat().st_size != f["bytes"]:
            res.problems.append(f"{rel}: size {p.stat().st_size} bytes, MANIFEST says {f['bytes']}")
            continue
        if sha256_file(p) != f["sha256"]:
            res.problems.append(f"{rel}: sha256 differs from MANIFEST (file changed or corrupt)")
            continue
        if deep and rel.endswith(".parquet") and f.get("config"):
            try:
                _verify_shard(p, rel, f, schemas, res)
            except SchemaError as e:
                res.problems.append(str(e))
            except Exception as e:  # unreadable Parquet
                res.problems.append(f"{rel}: cannot be read as Parquet ({e})")
    listed = set(m["files"]) | {MANIFEST}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel.split("/")[0] not in IGNORED_DIRS and rel not in listed:
            res.problems.append(f"{rel}: not listed in MANIFEST")
    return res
