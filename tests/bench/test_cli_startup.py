"""The command line starts without the heavy stack: ``bench --help``, every command's
``--help`` and the error of a command that needs no model load no torch, data or plotting
library (what makes them take seconds).

Checked by module, in a fresh interpreter, not by the clock: ``benchmarks/cli_startup.py``
measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys

# what takes seconds to import, or pulls in what does
HEAVY = (
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "matplotlib",
    "seaborn",
    "optuna",
    "PIL",
    "pycocotools",
    "scac.config",
    "scac.families",
    "scac.engine",
)

PROBE = """
import json, sys
import typer
from bench.cli.main import app

def commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield (*path, name)
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name)

paths = [()] + list(commands(typer.main.get_command(app)))
codes = {}
for path in paths:
    try:
        app([*path, "--help"], prog_name="bench", standalone_mode=False)
        codes[" ".join(path)] = 0
    except SystemExit as exit:
        codes[" ".join(path)] = exit.code
# an error of a command that needs no model: one line, still without the heavy stack
# (outside standalone mode click returns the exit code of typer.Exit)
codes["results list, no store"] = app(["results", "list", "--store", "/nonexistent/s.sqlite"],
                                      prog_name="bench", standalone_mode=False)
loaded = sorted({m.split(".")[0] if not m.startswith("scac.") else ".".join(m.split(".")[:2])
                 for m in sys.modules})
print(json.dumps({"codes": codes, "loaded": loaded}))
"""


def test_every_help_loads_no_heavy_module():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["codes"]) >= 25  # every group and command was asked for its help
    assert result["codes"].pop("results list, no store") == 2
    assert set(result["codes"].values()) == {0}, result["codes"]
    assert not [m for m in HEAVY if m in result["loaded"]], result["loaded"]


RERUN = """
import json, sys
from bench.cli.main import app
codes = [app(args, prog_name="bench", standalone_mode=False) for args in {commands!r}]
print(json.dumps({{"codes": codes, "torch": "torch" in sys.modules,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})}}))
"""
# a finished study re-printed: planning (configs, run keys), the store, the table's intervals
NO_TORCH = ("torch", "torchvision", "matplotlib", "seaborn", "optuna", "PIL", "pycocotools")


def test_a_finished_study_prints_again_without_torch(tmp_path, finished_smoke):
    """Issue 29: printing a finished study's table again took 4.6-5.9 s, 3 of them importing
    torch for the configs; planning, run keys, the store and the table now load none of it."""
    store = finished_smoke(tmp_path)
    commands = [
        ["run", "study", "context_ratio", "--smoke", "--store", store],
        ["table", "coco", "--study", "context_ratio", "--smoke", "--store", store],
        ["results", "list", "--study", "context_ratio", "--store", store],
    ]
    probe = RERUN.format(commands=commands, heavy=NO_TORCH)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"] == [None, None, None], result  # every run finished: nothing to do
    assert "ratio 5.0" in done.stdout and not result["loaded"], result["loaded"]
