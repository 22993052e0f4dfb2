"""What changed between two releases, and which version bump that needs.

Two release folders (or Hub revisions, fetched to the local cache first) are compared config by
config: rows are matched by their key (`KEYS`) and each row's digest covers every value,
image bytes included, so a changed label, score or pixel is a changed row. Models come from the
recipe in MANIFEST, columns from each config's Parquet schema, files by sha256.

The version policy (written into every card):
- PATCH: the same data; only metadata (card, descriptions) fixed;
- MINOR: rows, configs, columns or models added, nothing existing changed or removed;
- MAJOR: an existing row, label, score or image changed, or anything removed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from aas_dataset.release.manifest import MANIFEST, read_manifest

# the columns that identify a row of each config (others: the row's position)
KEYS = {
    "prompts": ("index",),
    "pairs": ("model", "index"),
    "scores": ("model", "index"),
    "emotion_bias": ("index",),
    "img2img": ("model", "source_model", "index"),
    "emotion_generation": ("model", "template", "emotion"),
    "real_photos": ("sha256",),
    "artworks": ("sha256",),
}
LEVELS = ("none", "patch", "minor", "major")
SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


@dataclass
class ConfigDiff:
    config: str
    rows_before: int
    rows_after: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)


@dataclass
class ReleaseDiff:
    configs: list[ConfigDiff] = field(default_factory=list)
    configs_added: list[str] = field(default_factory=list)
    configs_removed: list[str] = field(default_factory=list)
    models_added: list[str] = field(default_factory=list)
    models_removed: list[str] = field(default_factory=list)
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """The smallest version bump this change allows (none: nothing changed)."""
        if (
            self.configs_removed
            or self.models_removed
            or any(c.removed or c.changed or c.columns_removed for c in self.configs)
        ):
            return "major"
        if self.configs_added or self.models_added or any(c.added or c.columns_added for c in self.configs):
            return "minor"
        if self.files_added or self.files_removed or self.files_changed:
            return "patch"
        return "none"

    def reasons(self) -> list[str]:
        out = [f"config {c} removed" for c in self.configs_removed]
        out += [f"model {m} removed" for m in self.models_removed]
        for c in self.configs:
            if c.changed:
                out.append(f"{c.changed} existing row(s) of {c.config} changed")
            if c.removed:
                out.append(f"{c.removed} row(s) of {c.config} removed")
            if c.columns_removed:
                out.append(f"column(s) {', '.join(c.columns_removed)} of {c.config} removed")
        out += [f"config {c} added" for c in self.configs_added]
        out += [f"model {m} added" for m in self.models_added]
        for c in self.configs:
            if c.added:
                out.append(f"{c.added} row(s) of {c.config} added")
            if c.columns_added:
                out.append(f"column(s) {', '.join(c.columns_added)} of {c.config} added")
        return out

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "reasons": self.reasons(),
            "configs": [c.__dict__ for c in self.configs],
            **{k: getattr(self, k) for k in ("configs_added", "configs_removed", "models_added", "models_removed")},
            **{k: getattr(self, k) for k in ("files_added", "files_removed", "files_changed")},
        }

    def to_markdown(self) -> str:
        lines = ["| config | rows before | rows after | added | removed | changed | columns added | columns removed |",
                 "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for c in self.configs:
            lines.append(
                f"| `{c.config}` | {c.rows_before} | {c.rows_after} | {c.added} | {c.removed} | {c.changed} | "
                f"{', '.join(c.columns_added) or '–'} | {', '.join(c.columns_removed) or '–'} |"
            )
        extra = []
        for label, items in (
            ("configs added", self.configs_added), ("configs removed", self.configs_removed),
            ("models added", self.models_added), ("models removed", self.models_removed),
            ("files added", self.files_added), ("files removed", self.files_removed),
            ("files changed", self.files_changed),
        ):  # fmt: skip
            if items:
                extra.append(f"- {label}: {', '.join(f'`{x}`' for x in items)}")
        return "\n".join(lines + ([""] + extra if extra else []))


def _models(manifest: dict) -> set[str]:
    r = manifest.get("recipe") or {}
    out = set()
    for key in ("generators", "judges", "scorers"):
        for m in r.get(key) or []:
            out.add(f"{key[:-1]} {m['name'] if isinstance(m, dict) else m}")
    return out


def _columns(folder: Path, manifest: dict, config: str) -> list[str]:
    import pyarrow.parquet as pq

    files = sorted(_shards(manifest, config))
    return pq.read_schema(folder / files[0]).names if files else []


def _row_digests(folder: Path, manifest: dict, config: str, columns: list[str]) -> dict:
    """key -> digest of the row's values in `columns` (image bytes by their sha256): a column
    added to every row is a column added, not a change of existing rows."""
    import pyarrow.parquet as pq

    keys = KEYS.get(config)
    out, position = {}, 0
    for rel in sorted(_shards(manifest, config)):
        pf = pq.ParquetFile(folder / rel, pre_buffer=False)
        for rg in range(pf.num_row_groups):
            for row in pf.read_row_group(rg, columns=columns).to_pylist():
                key = json.dumps([row[k] for k in keys] if keys else position, default=str)
                position += 1
                flat = {
                    k: (
                        hashlib.sha256(v["bytes"]).hexdigest()
                        if isinstance(v, dict) and isinstance(v.get("bytes"), bytes)
                        else v
                    )
                    for k, v in row.items()
                }
                out[key] = hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()
    return out


def _shards(manifest: dict, config: str) -> dict[str, str]:
    """A config's files: path -> sha256."""
    return {p: f["sha256"] for p, f in manifest["files"].items() if f.get("config") == config}


def changed_configs(before: dict, after: dict) -> list[str]:
    """Configs of the `before` MANIFEST whose files are not byte for byte those of `after`: the
    only ones whose rows a diff must read."""
    configs = {f.get("config") for f in before["files"].values()} - {None}
    return sorted(c for c in configs if _shards(before, c) != _shards(after, c))


def diff_releases(before: Path, after: Path) -> ReleaseDiff:
    """`before` needs only the files of the configs in `changed_configs` (and its MANIFEST)."""
    before, after = Path(before), Path(after)
    mb, ma = read_manifest(before), read_manifest(after)
    d = ReleaseDiff()
    cb = {f.get("config") for f in mb["files"].values()} - {None}
    ca = {f.get("config") for f in ma["files"].values()} - {None}
    d.configs_added, d.configs_removed = sorted(ca - cb), sorted(cb - ca)
    d.models_added, d.models_removed = sorted(_models(ma) - _models(mb)), sorted(_models(mb) - _models(ma))
    fb, fa = mb["files"], ma["files"]
    d.files_added, d.files_removed = sorted(set(fa) - set(fb)), sorted(set(fb) - set(fa))
    d.files_changed = sorted(p for p in set(fa) & set(fb) if fa[p]["sha256"] != fb[p]["sha256"])
    for config in sorted(cb & ca):
        if _shards(mb, config) == _shards(ma, config):  # the same bytes: nothing to read (nor download)
            rows = sum(fb[p].get("rows") or 0 for p in _shards(mb, config))
            d.configs.append(ConfigDiff(config, rows, rows))
            continue
        colb, cola = _columns(before, mb, config), _columns(after, ma, config)
        common = [c for c in cola if c in colb]
        rb, ra = _row_digests(before, mb, config, common), _row_digests(after, ma, config, common)
        d.configs.append(
            ConfigDiff(
                config,
                len(rb),
                len(ra),
                added=len(set(ra) - set(rb)),
                removed=len(set(rb) - set(ra)),
                changed=sum(rb[k] != ra[k] for k in set(ra) & set(rb)),
                columns_added=[c for c in cola if c not in colb],
                columns_removed=[c for c in colb if c not in cola],
            )
        )
    return d


def semver(tag: str) -> tuple[int, int, int]:
    m = SEMVER.match(tag)
    if not m:
        raise ValueError(f"tag {tag!r} must look like vX.Y.Z")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def bump_level(previous: str, new: str) -> str:
    """The bump from `previous` to `new`; ValueError unless `new` is greater."""
    p, n = semver(previous), semver(new)
    if n <= p:
        raise ValueError(f"{new} is not greater than the latest tag {previous}")
    return "major" if n[0] > p[0] else "minor" if n[1] > p[1] else "patch"


def check_bump(previous: str, new: str, diff: ReleaseDiff) -> None:
    """ValueError when `new` is a smaller bump than the change needs (or nothing changed)."""
    given, needed = bump_level(previous, new), diff.level
    if needed == "none":
        raise ValueError(f"nothing changed since {previous}: no new version to release")
    if LEVELS.index(given) < LEVELS.index(needed):
        p = semver(previous)
        suggest = f"v{p[0] + 1}.0.0" if needed == "major" else f"v{p[0]}.{p[1] + 1}.0"
        why = "; ".join(diff.reasons()[:3]) or "the data changed"
        raise ValueError(
            f"{new} is a {given.upper()} release after {previous}, but {why}: that needs {needed.upper()} ({suggest})"
        )


NOTES_START, NOTES_END = "<!-- release-notes -->", "<!-- /release-notes -->"


def release_notes(previous: str | None, new: str, diff: ReleaseDiff | None) -> str:
    if previous is None or diff is None:
        return f"## Release notes: {new}\n\nThe first release of this repository.\n"
    level = bump_level(previous, new).upper()
    return (
        f"## Release notes: {new} (from {previous}, {level})\n\n"
        + "\n".join(f"- {r}" for r in diff.reasons())
        + ("\n\n" if diff.reasons() else "")
        + diff.to_markdown()
        + "\n"
    )


def write_notes(folder: Path, notes: str) -> bool:
    """Put `notes` between the card's release-notes marks (see `write_section`)."""
    return write_section(folder, "release-notes", notes)


def write_section(folder: Path, name: str, text: str) -> bool:
    """Put `text` between the card's `<!-- name -->` and `<!-- /name -->` marks and record the
    card's new hash in MANIFEST (both written atomically; the folder is ours). False when the card
    has no such marks (a card from before them is left as it is)."""
    from aas_dataset.release.manifest import file_entry
    from aas_dataset.util import write_bytes_atomic, write_json_atomic

    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    card = (folder / "README.md").read_text(encoding="utf-8")
    if start not in card or end not in card:
        return False
    head, _, rest = card.partition(start)
    _, _, tail = rest.partition(end)
    write_bytes_atomic(folder / "README.md", f"{head}{start}\n{text}{end}{tail}".encode())
    m = read_manifest(folder)
    extra = {k: v for k, v in m["files"]["README.md"].items() if k not in ("sha256", "bytes")}
    m["files"]["README.md"] = file_entry(folder, "README.md", **extra)
    write_json_atomic(folder / MANIFEST, m)
    return True
