"""The package's layers stay layers: no upward import between them, no import circle.

spec (what a benchmark is) < backends (models) < catalog (names -> backends) < release (the
folder format) < engine (builds) < analysis (tables) < cli. `util` is below all; `testing`
holds public test helpers and imports no layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .helpers import ROOT

PACKAGE = ROOT / "aas_dataset"
ORDER = ["util", "spec", "backends", "catalog", "release", "engine", "analysis", "cli"]
# Direct imports a layer may not make (beyond what ORDER forbids: every layer above it).
EXTRA_FORBIDDEN = {
    "release": {"backends"},  # the folder format never loads a model
    "analysis": {"backends", "engine"},  # tables come from a release folder, not from a build
}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    head = parts[1]
    # the API mirrors the CLI (the top layer); the version is read by every layer (the bottom one)
    return {"__main__": "cli", "api": "cli", "version": "util"}.get(head, head)


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aas_dataset"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aas_dataset"))
    return found


def test_no_layer_imports_a_layer_above_it():
    modules = _modules()
    bad = []
    for mod, path in modules.items():
        layer = _layer(mod)
        if layer in ("root", "testing"):
            allowed = set(ORDER) if layer == "root" else {"util"}
        else:
            allowed = set(ORDER[: ORDER.index(layer) + 1]) - EXTRA_FORBIDDEN.get(layer, set())
        for imported in _imports(path, top_level_only=False):
            # `from aas_dataset.x import y`: y is a module of its own or a name in x
            module = imported if imported in modules else imported.rsplit(".", 1)[0]
            target = _layer(module)
            if module in modules and target not in allowed | {"root"}:
                bad.append(f"{mod} ({layer}) imports {imported} ({target})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_circle_between_modules():
    modules = _modules()
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in modules and i != m} for m, p in modules.items()}
    seen, stack, circles = set(), [], []

    def visit(m):
        if m in stack:
            circles.append(" -> ".join(stack[stack.index(m) :] + [m]))
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for n in graph[m]:
            visit(n)
        stack.pop()

    for m in graph:
        visit(m)
    assert not circles, circles
