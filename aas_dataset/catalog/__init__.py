"""The model catalog: named rewriters, generators, scorers and judges (catalog.yaml).

`resolve(role, name, overrides)` validates an entry's settings (catalog values, then recipe
overrides) against its backend's `Settings` model and returns a `ResolvedModel`, whose `spec`
is what unit keys hash: changing one model's settings changes only that model's units.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aas_dataset.backends import backend_class
from aas_dataset.backends.base import check_role
from aas_dataset.spec.recipe import Entry
from aas_dataset.util import digest, register_secret

ROLES = ("rewriter", "negative_writer", "generator", "scorer", "judge", "embedder", "captioner", "detector")
_SECTION = {r: r + "s" for r in ROLES}
CATALOG_PATH = Path(__file__).with_name("catalog.yaml")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class ResolvedModel:
    role: str
    name: str
    entry: Entry
    settings: BaseModel
    version: int
    spec: dict = field(hash=False)
    # what the engine needs to know of the backend, copied from its class at resolve time
    traits: dict = field(hash=False, default_factory=dict)

    @property
    def spec_hash(self) -> str:
        return digest(self.spec)

    def instantiate(self, cache_dir=None):
        cls = backend_class(self.role, self.entry.kind)
        return cls(self.name, self.entry.model_id, self.entry.revision, self.settings, cache_dir=cache_dir)


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict[str, dict[str, Entry]]:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, dict[str, Entry]] = {}
    for role in ROLES:
        section = raw.get(_SECTION[role]) or {}
        out[role] = {}
        for name, body in section.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
                raise CatalogError(f"{path}: {_SECTION[role]}.{name}: names are data keys: letters, digits, _ and -")
            try:
                out[role][name] = Entry.model_validate(body)
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise CatalogError(f"{path}: {_SECTION[role]}.{name}.{loc}: {err['msg']}") from None
    return out


def entries(role: str, path: Path = CATALOG_PATH) -> dict[str, Entry]:
    return _load(str(path))[role]


def resolve(
    role: str,
    name: str,
    overrides: dict[str, Any] | None = None,
    extra: dict[str, Entry] | None = None,
    path: Path = CATALOG_PATH,
) -> ResolvedModel:
    """`extra`: a recipe's own catalog entries for this role; they shadow packaged ones."""
    known = {**entries(role, path), **(extra or {})}
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CatalogError(f"unknown {role} {name!r}; {hint}known: {', '.join(sorted(known))}")
    entry = known[name]
    try:
        cls = backend_class(role, entry.kind)
    except KeyError as e:
        raise CatalogError(f"{role} {name!r}: {e.args[0]}") from None
    if problem := check_role(role, cls):
        raise CatalogError(f"{role} {name!r}: kind {entry.kind!r}: {problem}")
    merged = {**entry.settings, **(overrides or {})}
    try:
        settings = cls.Settings.model_validate(merged)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise CatalogError(f"{role} {name!r}: settings.{loc}: {err['msg']}") from None
    if env := getattr(settings, "api_key_env", None):
        register_secret(env)  # from here on its value is redacted from every message
    spec = {
        "role": role,
        "name": name,
        "kind": entry.kind,
        "model_id": entry.model_id,
        "revision": entry.revision,
        "settings": settings.identity(),  # transport settings (endpoint, concurrency, ...) stay out of keys
        "backend_version": cls.VERSION,
    }
    if texts := cls.text_sources(settings):  # editing a defining text makes a new model: new unit keys
        spec["texts"] = texts
    return ResolvedModel(role, name, entry, settings, cls.VERSION, spec, cls.traits(settings))


def role_problem(role: str, kind: str) -> str | None:
    """Why the class behind `kind` cannot serve as a `role` backend, or None."""
    return check_role(role, backend_class(role, kind))


def differences(m: ResolvedModel) -> list[str]:
    """How a resolved model differs from the authors' run it stands for: the catalog's
    `paper_settings`, tiny weights, and every defining text in our wording instead of theirs.
    Shown by the card of every release and by `aas models`."""
    e = m.entry
    if e.paper_run == "none":
        return ["not a model of the authors' runs"]
    out = [e.paper_settings] if e.paper_settings else []
    out += backend_class(m.role, e.kind).paper_differences(m.settings)
    if getattr(m.settings, "tiny", False):
        out.append("tiny random weights in place of the released ones")
    for t in m.spec.get("texts", []):
        if t["source"].startswith("ours"):
            out.append(f"{t['text']}: {t['source']} in place of the authors' text")
    return out
