"""The ``bench`` command line: a thin layer over the ``bench`` and ``scac`` libraries."""

from __future__ import annotations

import typer

from bench.cli import data, results, run

app = typer.Typer(
    help="scac-bench: train, ablate and tabulate multi-label image classifiers "
    "(SCAC and its peers).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(run.app, name="run")
app.add_typer(results.app, name="results")
app.add_typer(data.app, name="data")

if __name__ == "__main__":  # pragma: no cover
    app()
