"""The ``bench`` command line: a thin layer over the ``bench`` and ``scac`` libraries.

Each module of ``bench.cli`` that defines ``register(app)`` adds its commands (one file per
command group); they are registered in name order.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import bench.cli

app = typer.Typer(
    help="scac-bench: train, ablate and tabulate multi-label image classifiers "
    "(SCAC and its peers).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _info in sorted(pkgutil.iter_modules(bench.cli.__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"bench.cli.{_info.name}")
    if hasattr(_module, "register"):
        _module.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
