"""The ``bench`` command line: a thin layer over the ``bench`` and ``scac`` libraries.

One file per command group; each defines ``register(app)``, called here in the order of
``bench --help``.
"""

from __future__ import annotations

import typer

from bench.cli import (
    audit,
    data,
    eval,
    model,
    plot,
    report,
    results,
    run,
    sweep,
    table,
    train,
    worker,
)

app = typer.Typer(
    help="scac-bench: train, ablate and tabulate multi-label image classifiers "
    "(SCAC and its peers).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _group in (run, train, worker, sweep, results, report, table, plot, audit, eval, data, model):
    _group.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
