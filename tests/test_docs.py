"""The documentation's promises about the tests hold: every test docs/claims.md names exists,
and the README and the test script give the same test duration."""

from __future__ import annotations

import ast
import re

from .helpers import ROOT


def test_every_test_named_in_the_claims_exists():
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", (ROOT / "docs" / "claims.md").read_text())
    assert len(named) > 50
    missing = []
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        if not any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
            missing.append(f"{path}::{name}")
    assert not missing, missing


def test_readme_and_test_script_give_the_same_duration():
    def minutes(text: str) -> set[str]:
        return set(re.findall(r"about (\d+) minutes on 2 cores", text))

    readme, script = minutes((ROOT / "README.md").read_text()), minutes((ROOT / "scripts" / "test.sh").read_text())
    assert readme and readme == script
