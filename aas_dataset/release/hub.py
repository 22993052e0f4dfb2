"""`aas release`: verify a release folder, upload it to a Hub dataset repo and tag the commit.

The token comes from the environment (`HF_TOKEN`) or the `hf auth login` cache, through
huggingface_hub itself; it is never passed on the command line, printed or written. An
existing tag is never moved.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from aas_dataset.release.diff import (
    SEMVER,
    bump_level,
    changed_configs,
    check_bump,
    diff_releases,
    release_notes,
    semver,
    write_notes,
)
from aas_dataset.release.manifest import IGNORED_DIRS, read_manifest, verify
from aas_dataset.spec.schema import REFERENCE_CONFIGS

log = logging.getLogger(__name__)

TAG_RE = re.compile(r"^v\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$")


class ReleaseError(RuntimeError):
    pass


@dataclass
class ReleasePlan:
    repo_id: str
    tag: str
    files: list[tuple[str, int]] = field(default_factory=list)
    ignore_patterns: list[str] = field(default_factory=lambda: [f"{d}/**" for d in IGNORED_DIRS])

    @property
    def total_bytes(self) -> int:
        return sum(b for _, b in self.files)


def unpublishable(manifest: dict) -> str | None:
    """Why the release may not go to the Hub: a reference config whose images may not be
    redistributed (AVA's and LAPIS's terms are not ours) and that still holds pixels."""
    recipe = manifest.get("recipe") or {}
    configs = {f.get("config") for f in manifest["files"].values()}
    for name in REFERENCE_CONFIGS:
        sec = recipe.get(name) or {}
        if name in configs and not sec.get("redistribute", False) and not sec.get("metadata_only", False):
            return (
                f"config {name!r} (license {sec.get('license', 'other')!r}) is marked redistribute: false and holds "
                f"images; build it with metadata_only: true (ids, captions, scores; no pixels) to publish it"
            )
    return None


def plan_release(root: Path, repo_id: str, tag: str) -> ReleasePlan:
    root = Path(root)
    if not re.match(r"^[\w.-]+/[\w.-]+$", repo_id):
        raise ReleaseError(f"repo id {repo_id!r} must look like ORG/NAME")
    if not TAG_RE.match(tag):
        raise ReleaseError(f"tag {tag!r} must look like vX.Y.Z")
    result = verify(root)
    if not result.ok:
        raise ReleaseError("verify failed, nothing uploaded:\n  " + "\n  ".join(result.problems))
    m = read_manifest(root)
    if blocked := unpublishable(m):
        raise ReleaseError(blocked)
    files = [(rel, f["bytes"]) for rel, f in m["files"].items()] + [
        ("MANIFEST.json", (root / "MANIFEST.json").stat().st_size)
    ]
    return ReleasePlan(repo_id, tag, sorted(files))


def _transient(e: BaseException) -> bool:
    """429, 5xx and a connection lost or refused are worth another try; the rest are not."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    if status is not None:
        return status == 429 or status >= 500
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"TransportError", "ConnectError", "ReadError", "RemoteProtocolError", "ConnectionError"})


def _with_retries(fn, attempts: int):
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

    retrying = Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=20),
        reraise=True,
        before_sleep=lambda state: log.info(
            "attempt %d failed (%s); retrying", state.attempt_number, state.outcome.exception()
        ),
    )
    return retrying(fn)


def provenance(root: Path) -> str:
    """A line for the release notes when the build started from another release (`--from`):
    how many of this release's units came from it and how many were computed here."""
    import json

    import pyarrow.parquet as pq

    from aas_dataset.release.writer import RECORDS

    prov, m = root / ".aas" / "hydrated.json", read_manifest(root)
    if not prov.is_file() or RECORDS not in m["files"]:
        return ""
    units = {
        f"{s}/{k}"
        for s, k in zip(
            *(pq.read_table(root / RECORDS, columns=["stage", "key"]).column(c).to_pylist() for c in ("stage", "key")),
            strict=True,
        )
    }
    lines = []
    for source, keys in sorted(json.loads(prov.read_text()).items()):
        reused = len(units & set(keys))
        if reused:
            n = len(units)
            lines.append(f"- built from `{source}`: {reused} of {n} units reused from it, {n - reused} computed")
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def _previous_release(api, repo_id: str, revision: str, root: Path) -> Path:
    """The previous release as far as a diff against `root` needs it: its MANIFEST, then only
    the configs whose files are not byte for byte in `root` (a release that adds a config or
    fixes its card downloads no Parquet of the last one)."""
    from aas_dataset.release.manifest import MANIFEST

    manifest = Path(api.hf_hub_download(repo_id, MANIFEST, repo_type="dataset", revision=revision))
    changed = changed_configs(read_manifest(manifest.parent), read_manifest(root))  # its shape checked
    log.info("previous release %s: downloading %s", revision, ", ".join(changed) or "its MANIFEST only")
    patterns = [MANIFEST, *(f"{c}/*" for c in changed)]
    return Path(api.snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns))


def latest_version(tags: list[str]) -> str | None:
    """The greatest vX.Y.Z tag, or None."""
    versions = [t for t in tags if SEMVER.match(t)]
    return max(versions, key=semver) if versions else None


def publish(root: Path, plan: ReleasePlan, api=None, private: bool = False, attempts: int = 4) -> str:
    """Create the repo if needed, upload the folder, tag the commit; returns the commit sha."""
    from huggingface_hub import HfApi

    api = api or HfApi()
    api.create_repo(plan.repo_id, repo_type="dataset", exist_ok=True, private=private)
    refs = api.list_repo_refs(plan.repo_id, repo_type="dataset")
    tags = [t.name for t in refs.tags]
    if plan.tag in tags:
        raise ReleaseError(f"tag {plan.tag} already exists on {plan.repo_id}; a release tag is never moved")
    previous = latest_version(tags)
    log.info("%s: tags %s; previous release %s", plan.repo_id, ", ".join(tags) or "none", previous or "none")
    change = None
    try:
        if previous is not None:
            bump_level(previous, plan.tag)  # the new tag must be greater
            before = _previous_release(api, plan.repo_id, previous, root)
            change = diff_releases(before, root)
            check_bump(previous, plan.tag, change)
    except ValueError as e:
        raise ReleaseError(str(e)) from None
    if write_notes(root, release_notes(previous, plan.tag, change) + provenance(root)):
        result = verify(root)
        if not result.ok:  # pragma: no cover - the notes only touch the card and its MANIFEST entry
            raise ReleaseError("verify failed after the release notes were written:\n  " + "\n  ".join(result.problems))

    def upload():
        return api.upload_folder(
            repo_id=plan.repo_id,
            repo_type="dataset",
            folder_path=str(root),
            ignore_patterns=plan.ignore_patterns,
            commit_message=f"Release {plan.tag}",
        )

    # Retrying the whole upload is safe: a commit is atomic on the Hub, and files that already
    # landed (a commit whose answer was lost) have the same oid, so the client leaves them out and
    # no second commit is made.
    log.info("uploading %d files (%d bytes) to %s", len(plan.files), plan.total_bytes, plan.repo_id)
    commit = _with_retries(upload, attempts)
    sha = commit.oid
    log.info("commit %s; tagging %s", sha, plan.tag)
    api.create_tag(
        plan.repo_id,
        tag=plan.tag,
        revision=sha,
        repo_type="dataset",
        tag_message=f"aas_dataset release {plan.tag}",
    )
    return sha
