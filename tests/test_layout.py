"""The folder is the architecture: one-way dependencies, no import cycles, small files.

Imports are read from the source (every ``import`` and ``from ... import``, at module level or
inside functions, ``TYPE_CHECKING`` blocks included), so the checks hold for every way a module
can reach another.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("scac", "bench")
MAX_LINES = 400
MAX_FUNCTION_LINES = 80
# a model's forward that follows its paper's figure may run longer (issue 30)
LONG_FUNCTIONS_ALLOWED: set[str] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from pkg import sub`` is ``pkg.sub``)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 folders
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in out if m in known and m != module}


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    return {m: _imports(p, set(sources)) for m, p in sources.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _folder(module: str) -> str:
    """A module's folder: its subpackage (``scac.engine``); a top-level module stands alone."""
    parts = module.split(".")
    return module if len(parts) <= 2 and not (ROOT / Path(*parts)).is_dir() else ".".join(parts[:2])


def test_scac_never_imports_bench():
    graph = _graph()
    offenders = [f"{m} -> {d}" for m in graph if m.startswith("scac") for d in graph[m]
                 if d.split(".")[0] == "bench"]  # fmt: skip
    assert not offenders, offenders


def test_no_import_cycle_between_files():
    assert not _cycles(_graph())


def test_no_import_cycle_between_folders():
    folders: dict[str, set[str]] = defaultdict(set)
    for module, deps in _graph().items():
        folders[_folder(module)] |= {_folder(d) for d in deps} - {_folder(module)}
    assert not _cycles(dict(folders))


@pytest.mark.parametrize("package", [*PACKAGES, "benchmarks", "tests"])
def test_no_file_over_the_limit(package):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / package).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_no_function_over_the_limit():
    long = {
        f"{path.relative_to(ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for pkg in PACKAGES
        for path in (ROOT / pkg).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    long = {k: n for k, n in long.items() if k not in LONG_FUNCTIONS_ALLOWED}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _rooms() -> dict[str, set[str]]:
    """Each room of ``bench`` (a subpackage, or the loose ``bench.api``) -> the rooms it imports."""
    rooms: dict[str, set[str]] = defaultdict(set)
    for module, deps in _graph().items():
        if module.startswith("bench.") and module != "bench":
            rooms[_folder(module)] |= {
                _folder(d) for d in deps if d.startswith("bench.") and _folder(d) != _folder(module)
            }
    return rooms


def test_each_room_imports_only_what_its_init_allows():
    """A room's ``__init__`` says "May import: ..."; importing any other room fails here."""
    broken = {}
    for room, deps in _rooms().items():
        init = ROOT / Path(*room.split(".")) / "__init__.py"
        if not init.is_file():  # a loose module (bench.api): imported by the CLI alone
            users = {r for r, d in _rooms().items() if room in d}
            assert users <= {"bench.cli"}, f"{room} is a loose module that {users} reach into"
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        (line,) = [p for p in doc.split("\n\n") if p.startswith("May import:")] or [""]
        assert line, f"{init.relative_to(ROOT)} does not say what the room may import"
        allowed = {f"bench.{name}" for name in re.findall(r"``bench\.(\w+)``", line)}
        if deps - allowed:
            broken[room] = sorted(deps - allowed)
    assert not broken, broken


def test_the_checks_see_a_cycle_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert "scac.config" in _graph()["scac.engine.run"]
