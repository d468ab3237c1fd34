"""The layout docs/architecture.md promises, checked on the source: a thin command line (cli/ at
most a fifth of the package, no command function over 60 lines), a library that names no flag,
and no import circle between modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gantool"
FLAG = re.compile(r"(^|[\s(`'\"/])--[a-z]")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _docstrings(tree) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _help_texts(tree) -> set[int]:
    """Strings that are help or a flag's declaration, not a message: the arguments of
    gantool.settings.setting(...) (help, flag=, default_help=)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setting":
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found |= {id(n) for n in ast.walk(arg) if isinstance(n, ast.Constant)}
    return found


def test_the_library_names_no_flag():
    """A message below gantool/cli/ names settings by field (BadValue, gantool.errors.flag): the
    CLI shows the flag the user typed."""
    offenders = []
    for path, tree in _modules():
        if path.parent.name == "cli" or path.name == "docgen.py":  # docgen writes the man pages: flags are its subject
            continue
        skip = _docstrings(tree) | _help_texts(tree)
        offenders += [f"{path.relative_to(PACKAGE.parent)}:{n.lineno}: {n.value[:70]!r}" for n in ast.walk(tree)
                      if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
                      and FLAG.search(n.value)]
    assert not offenders, "\n".join(offenders)


def test_the_command_line_is_thin():
    lines = {path: len(path.read_text().splitlines()) for path, _ in _modules()}
    cli = sum(n for path, n in lines.items() if path.parent.name == "cli")
    assert cli <= 0.2 * sum(lines.values()), f"cli/ is {cli} of {sum(lines.values())} lines"
    long = [f"{path.name}:{node.name} {node.end_lineno - node.lineno + 1} lines"
            for path, tree in _modules() if path.parent.name == "cli"
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 60]
    assert not long, long


def _imports(path: Path, tree) -> set[str]:
    """The gantool modules `path` imports, anywhere in it (a function-level import is a dependency too)."""
    here = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("gantool"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gantool")}
    return {m for m in found if m != here}


def test_no_import_circle():
    names = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): (p, t)
             for p, t in _modules()}
    graph = {name: {m for m in _imports(p, t) if m in names and not name.startswith(m + ".")}
             for name, (p, t) in names.items()}
    graph = {k: {m for m in v if not names[m][0].name == "__init__.py"} for k, v in graph.items()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
