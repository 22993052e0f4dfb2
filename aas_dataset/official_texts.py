"""Model-defining prompt texts read from the official sources at run time, never copied here.

Some reward models are defined partly by a long instruction they were trained with (HPSv3),
or by a prompt template (the per-dimension rater J). Those texts belong to their authors, so
this package records only their length and a SHA-256 prefix (REWARD_MODELS.md) and reads the
text itself from the official package or repository file when a scorer loads:

- the file is parsed with `ast` (string constants only), never imported or executed: importing
  `hpsv3` would pull in its transformers 4.45.2 pin and training stack;
- a wheel is opened as a zip, not installed;
- if the text found does not match the recorded length and hash, loading fails and names the
  source, so a fork or a changed release cannot silently change the model.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


class OfficialTextError(RuntimeError):
    pass


@dataclass(frozen=True)
class Recorded:
    name: str  # the module-level variable that holds the text
    length: int
    sha256_prefix: str


HPSV3_PACKAGE = "hpsv3==1.0.0"
HPSV3_MODULE = "hpsv3/dataset/data_collator_qwen.py"
HPSV3_INSTRUCTION = Recorded("INSTRUCTION", 2523, "0393599dad45a971")
HPSV3_SUFFIX = Recorded("prompt_with_special_token", 67, "2471faca094ae5bd")


def string_constants(source: str) -> dict[str, str]:
    """Module-level `NAME = "literal"` assignments of a Python file, without running it."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value.value
    return out


def check(text: str, rec: Recorded, source: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    if len(text) != rec.length or not digest.startswith(rec.sha256_prefix):
        raise OfficialTextError(
            f"{source}: {rec.name} is {len(text)} characters with sha256 {digest[:16]}, expected "
            f"{rec.length} / {rec.sha256_prefix}: not the official text"
        )
    return text


def read_module(source: Path, member: str) -> str:
    """The text of `member` from a wheel, an installed package folder, or the file itself."""
    source = Path(source)
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as z:
            return z.read(member).decode()
    if source.is_dir():
        return (source / member).read_text()
    return source.read_text()


def official_cache(cache_dir: Path | None) -> Path:
    """Where official files are kept between runs: beside the build's store, or the user cache."""
    return Path(cache_dir or Path.home() / ".cache" / "aas_dataset") / "official"


def fetch_text(url: str, target: Path, hint: str) -> str:
    """The text at `url`, downloaded once into `target` (atomically); `hint` says how to give
    the file instead when the address cannot be reached."""
    if not target.exists():
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                data = r.read()
        except OSError as e:
            raise OfficialTextError(f"cannot fetch {url} ({e}); {hint}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target.read_text()


def fetch_wheel(requirement: str, cache: Path) -> Path:
    """Download the package's wheel (no dependencies, nothing installed) into `cache` once."""
    name = requirement.split("==")[0].replace("-", "_")
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{name}-*.whl"))
    if not found:
        res = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), requirement],
            capture_output=True,
            text=True,
        )
        found = sorted(cache.glob(f"{name}-*.whl"))
        if res.returncode != 0 or not found:
            raise OfficialTextError(f"could not download {requirement} to read its texts: {res.stderr.strip()[-300:]}")
    return found[-1]


def hpsv3_texts(source: str | None, cache: Path) -> tuple[str, str]:
    """(instruction, suffix) of HPSv3, from `source` (a wheel, the package folder or the module
    file) or from the official wheel downloaded into `cache`."""
    path = Path(source) if source else fetch_wheel(HPSV3_PACKAGE, cache)
    where = f"{path}:{HPSV3_MODULE}" if path.suffix == ".whl" or path.is_dir() else str(path)
    consts = string_constants(read_module(path, HPSV3_MODULE))
    missing = [r.name for r in (HPSV3_INSTRUCTION, HPSV3_SUFFIX) if r.name not in consts]
    if missing:
        raise OfficialTextError(f"{where}: no {', '.join(missing)} defined")
    return check(consts[HPSV3_INSTRUCTION.name], HPSV3_INSTRUCTION, where), check(
        consts[HPSV3_SUFFIX.name], HPSV3_SUFFIX, where
    )
