"""The folder is the architecture: the library never imports the toolkit."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_scac_never_imports_bench():
    offenders = []
    for path in (ROOT / "scac").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "bench"
            ]
    assert not offenders, offenders


def test_top_level_folders_exist():
    for folder in ("scac", "bench", "studies", "results", "tests", "benchmarks"):
        assert (ROOT / folder).is_dir(), folder
