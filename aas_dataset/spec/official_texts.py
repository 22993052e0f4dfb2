"""Texts that define a model or the benchmark, read from their official sources at run time,
never copied here.

Some reward models are defined partly by a long instruction they were trained with (HPSv3),
or by a prompt template (the per-dimension rater J); the benchmark itself is defined by the
authors' rewriting instruction, effect descriptions and judge prompts. Those texts belong to
their authors, so this package records only their length and a SHA-256 prefix and reads the
text itself from the official package or repository file when a backend loads
(docs/paper_fidelity.md lists every such text and its file):

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


# --- the authors' repository: instructions, effect texts, judge prompts -------------------
# The paper's runs used the code of weathon/AAS (October 2025); one commit pins every text read
# from it. The same files live under eval/ in weathon/icml2026_position.
AUTHORS_REPO = "weathon/AAS"
AUTHORS_COMMIT = "51fa409b6240c621c83909e4a46920aa68fd1ee6"
AUTHORS_RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class AuthorsText:
    """One text of the authors' code, found by structure (never by its wording) in one file.

    Python files and notebook cells: the text of the chat message with `role` inside the
    function `function` (the message's string, or the `"type": "text"` part of its content
    list); JSON files: the whole file. `fields` renames the f-string's replacement fields
    (written `{expression}` in the recorded text) to the names our code fills in."""

    name: str
    path: str
    length: int
    sha256_prefix: str
    function: str | None = None
    role: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    repo: str = AUTHORS_REPO
    commit: str = AUTHORS_COMMIT
    variable: str | None = None  # instead of a chat message: the module-level variable of this name
    # or: the first argument of the `nth` call (in source order) of `call` inside `function`
    call: str | None = None
    nth: int = 0

    @property
    def source(self) -> str:
        return f"{self.repo}@{self.commit[:7]}:{self.path}"

    @property
    def url(self) -> str:
        return AUTHORS_RAW.format(repo=self.repo, commit=self.commit, path=self.path)

    def describe(self) -> dict:
        return {"source": self.source, "length": self.length, "sha256": self.sha256_prefix}


def _template(node: ast.AST, where: str) -> str:
    """A string literal or f-string as text, replacement fields written `{expression}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(part.value)
            elif part.conversion != -1 or part.format_spec is not None:
                raise OfficialTextError(f"{where}: a replacement field with a conversion or format is not supported")
            else:
                out.append("{" + ast.unparse(part.value) + "}")
        return "".join(out)
    raise OfficialTextError(f"{where}: the message text is not a string literal")


def _dict_get(d: ast.Dict, key: str) -> ast.AST | None:
    for k, v in zip(d.keys, d.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == key:
            return v
    return None


def parse_prefix(source: str, where: str) -> ast.Module:
    """The module of `source`, or of its longest run of leading top-level statements that parse:
    a file written for a newer Python (3.12 f-strings) is read up to the first statement this
    interpreter cannot parse, which is enough for texts assigned near the top."""
    lines = source.splitlines(keepends=True)
    end = len(lines)
    while end > 0:
        try:
            return ast.parse("".join(lines[:end]))
        except SyntaxError as e:
            # cut before the top-level statement holding the error: back to an unindented line
            cut = min(end, (e.lineno or end)) - 1
            while cut > 0 and (lines[cut][:1].isspace() or not lines[cut].strip()):
                cut -= 1
            if cut >= end:
                break
            end = cut
    raise OfficialTextError(f"{where}: no statement of the file parses")


def _module_value(tree: ast.AST, name: str, where: str) -> ast.AST:
    """The expression assigned to `name` at module level (exactly once)."""
    values = [
        node.value
        for node in getattr(tree, "body", [])
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    if len(values) != 1:
        raise OfficialTextError(f"{where}: {name} is assigned {len(values)} times at module level, expected once")
    return values[0]


def call_argument(tree: ast.AST, function: str, callee: str, nth: int, where: str) -> str | None:
    """The first argument of the `nth` call of `callee` (in source order) inside `function`."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == function:
            calls = sorted(
                (n for n in ast.walk(fn) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == callee),
                key=lambda n: (n.lineno, n.col_offset),
            )
            if nth >= len(calls) or not calls[nth].args:
                raise OfficialTextError(f"{where}: {function}() has no call {nth} of {callee}() with an argument")
            return _template(calls[nth].args[0], where)
    return None


def chat_message_text(tree: ast.AST, function: str, role: str, where: str) -> str | None:
    """The text of the `role` message built inside `function`, or None if it has none."""
    found = []
    for fn in ast.walk(tree):
        if not (isinstance(fn, ast.FunctionDef) and fn.name == function):
            continue
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Dict) and isinstance(r := _dict_get(node, "role"), ast.Constant)):
                continue
            content = _dict_get(node, "content")
            if r.value != role or content is None:
                continue
            if isinstance(content, ast.Name):  # a module-level variable holds the text
                content = _module_value(tree, content.id, where)
            while isinstance(content, ast.BinOp) and isinstance(content.op, ast.Add):  # [text] + [images...]
                parts = [x for x in (content.left, content.right) if isinstance(x, ast.List)]
                content = ast.List(elts=[e for x in parts for e in x.elts], ctx=ast.Load())
            if isinstance(content, ast.List):
                texts = [
                    _dict_get(part, "text")
                    for part in content.elts
                    if isinstance(part, ast.Dict) and getattr(_dict_get(part, "type"), "value", None) == "text"
                ]
                found += [_template(t, where) for t in texts if t is not None]
            else:
                found.append(_template(content, where))
    if len(found) > 1:
        raise OfficialTextError(f"{where}: {len(found)} {role} messages in {function}(), expected one")
    return found[0] if found else None


def notebook_code_cells(text: str, where: str) -> list[ast.AST]:
    """The code cells of a Jupyter notebook that parse as Python (shell and magic cells do not)."""
    import json

    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError):
        raise OfficialTextError(f"{where}: not a Jupyter notebook") from None
    out = []
    for c in cells:
        if c.get("cell_type") != "code":
            continue
        src = "".join(c.get("source", []))
        try:
            out.append(ast.parse(src))
        except SyntaxError:
            continue
    return out


def authors_file(path: str, official_dir: str | Path | None, cache_dir: Path | None, t: AuthorsText) -> tuple[str, str]:
    """(text, where) of one file of the authors' repository: from a local copy of it, or
    downloaded once at the pinned commit into the official-text cache."""
    if official_dir:
        p = Path(official_dir) / path
        if not p.is_file():
            raise OfficialTextError(f"{p}: not found (settings.official_dir must be a copy of {t.repo})")
        return p.read_text(encoding="utf-8"), str(p)
    target = official_cache(cache_dir) / t.repo.replace("/", "+") / t.commit / path
    hint = f"give a local copy of {t.repo} at {t.commit[:7]} (settings.official_dir; aas import-hf --official-dir)"
    return fetch_text(t.url, target, hint), t.source


def extract_authors_text(t: AuthorsText, text: str, where: str) -> str:
    """The recorded text inside one file's contents, checked against its length and hash, with
    its replacement fields renamed to ours."""
    if t.path.endswith(".json"):
        found = text
    elif t.variable:
        found = _template(_module_value(parse_prefix(text, where), t.variable, where), where)
    elif t.call:
        trees = notebook_code_cells(text, where) if t.path.endswith(".ipynb") else [ast.parse(text)]
        hits = [a for tree in trees if (a := call_argument(tree, t.function, t.call, t.nth, where)) is not None]
        if len(hits) != 1:
            raise OfficialTextError(f"{where}: {len(hits)} functions {t.function}() calling {t.call}(), expected one")
        found = hits[0]
    else:
        trees = notebook_code_cells(text, where) if t.path.endswith(".ipynb") else [ast.parse(text)]
        hits = [m for tree in trees if (m := chat_message_text(tree, t.function, t.role, where)) is not None]
        if len(hits) != 1:
            raise OfficialTextError(f"{where}: {len(hits)} {t.role} messages in {t.function}(), expected one")
        found = hits[0]
    check(found, Recorded(t.name, t.length, t.sha256_prefix), where)
    for expr, ours in t.fields:
        marker = "{" + expr + "}"
        if marker not in found:
            raise OfficialTextError(f"{where}: {t.name} has no field {marker}")
        found = found.replace(marker, "{" + ours + "}")
    return found


def load_authors_text(t: AuthorsText, official_dir: str | Path | None, cache_dir: Path | None) -> str:
    text, where = authors_file(t.path, official_dir, cache_dir, t)
    return extract_authors_text(t, text, where)


def fill(template: str, **values: str) -> str:
    """`template` with each `{name}` of `values` replaced in one pass (a value that itself holds
    `{name}` stays as it is); other braces are left alone: the authors' texts hold literal JSON."""
    import re

    for name in values:
        if "{" + name + "}" not in template:
            raise KeyError(f"template has no field {{{name}}}")
    pattern = re.compile("|".join(re.escape("{" + n + "}") for n in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template) if values else template
