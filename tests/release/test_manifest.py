"""A MANIFEST is read as untrusted input: its paths stay inside the folder and its shape is
checked before anything relies on it."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from aas_dataset.cli import app
from aas_dataset.release.manifest import MANIFEST, verify

runner = CliRunner()


def _edit(folder, change) -> None:
    m = json.loads((folder / MANIFEST).read_text())
    change(m)
    (folder / MANIFEST).write_text(json.dumps(m))


@pytest.mark.parametrize(
    "rel",
    [
        "../outside.md",
        "/tmp/outside.md",
        "prompts/../../outside.md",
        "C:/outside.md",
        "prompts\\..\\..\\outside.md",
        "./README.md",
        "",
    ],
)
def test_verify_refuses_a_path_that_leaves_the_folder(release_copy, rel):
    outside = release_copy.parent / "outside.md"
    shutil.copy(release_copy / "README.md", outside)  # same bytes as a listed file
    _edit(release_copy, lambda m: m["files"].__setitem__(rel, m["files"]["README.md"]))
    res = runner.invoke(app, ["verify", str(release_copy)])
    assert res.exit_code == 1 and "leads outside the release folder" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_verify_does_not_follow_a_link_out_of_the_folder(release_copy):
    outside = release_copy.parent / "outside.md"
    shutil.move(release_copy / "README.md", outside)
    (release_copy / "README.md").symlink_to(outside)  # the bytes MANIFEST expects, but not in the release
    result = verify(release_copy)
    assert not result.ok and any("README.md: a link" in p for p in result.problems)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m: m.pop("files"), "files: Field required"),
        (lambda m: m.__setitem__("files", ["README.md"]), "files: Input should be a valid dictionary"),
        (lambda m: m["files"]["README.md"].__setitem__("bytes", "12"), "files.README.md.bytes"),
        (lambda m: m["files"]["README.md"].__setitem__("sha256", "abc"), "files.README.md.sha256"),
        (lambda m: m.pop("name"), "name: Field required"),
        (lambda m: m.__setitem__("counts", [1, 2]), "counts: Input should be a valid dictionary"),
    ],
)
def test_a_misshapen_manifest_is_one_line_naming_the_key(release_copy, change, words):
    _edit(release_copy, change)
    for cmd, code in (("verify", 1), ("info", 2)):
        res = runner.invoke(app, [cmd, str(release_copy)])
        assert res.exit_code == code and words in res.output, (cmd, res.output)
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
