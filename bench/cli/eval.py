"""``bench eval``: the full metric set of a stored predictions file under a named protocol."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from bench.cli.common import console, err_console, errors_as_messages
from scac.metrics.protocols import PROTOCOLS

if TYPE_CHECKING:
    from scac.metrics import Evaluation

PROTOCOL_OPTION = typer.Option(
    "default",
    "--protocol",
    "-p",
    help=f"Metric protocol: {', '.join(PROTOCOLS.names())} (see docs/metrics.md).",
)

_THRESHOLD_COLUMNS = ("CP", "CR", "CF1", "CF1_harmonic", "CF1_mean_f1", "OP", "OR", "OF1")


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def metric_tables(ev: Evaluation) -> list[Table]:
    """mAP (and per group), the threshold and top-k metrics, and AP per class, in percent."""
    p = ev.protocol
    rule = f"{'logit' if p.threshold_space == 'logit' else 'p'} {p.comparison} {p.threshold:g}"
    ap = Table(title="AP (%)", title_justify="left")
    keys = [k for k in ev.metrics if k.startswith("mAP")]
    for k in keys:
        ap.add_column(k, justify="right")
    ap.add_row(*[_cell(ev.metrics[k]) for k in keys])
    thr = Table(title=f"threshold metrics (%), CF1 = {p.cf1}", title_justify="left")
    thr.add_column("decision")
    for k in _THRESHOLD_COLUMNS:
        thr.add_column(k, justify="right")
    top = f"top-{p.top_k}" + (f" and {rule}" if p.top_k_threshold else "")
    for label, suffix in ((rule, ""), (top, f"_top{p.top_k}")):
        thr.add_row(label, *[_cell(ev.metrics[f"{k}{suffix}"]) for k in _THRESHOLD_COLUMNS])
    per_class = Table(title="AP per class (%)", title_justify="left")
    per_class.add_column("class")
    per_class.add_column("AP", justify="right")
    for name, value in ev.per_class_ap.items():
        per_class.add_row(name, _cell(value))
    return [ap, thr, per_class]


def evaluate_quietly(path: Path, protocol: str) -> tuple[Evaluation, list[str]]:
    """Evaluate ``path`` under ``protocol``, collecting the library's warnings as lines."""
    from scac.metrics import evaluate_file

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_file(path, protocol)
    return ev, [str(w.message) for w in caught]


def print_evaluation(path: Path, ev: Evaluation, notes: list[str]) -> None:
    """The warnings (to stderr), then the tables of :func:`metric_tables`."""
    for note in notes:
        err_console.print(f"[yellow]warning:[/] {note}", highlight=False)
    console.print(f"[bold]{path}[/]  protocol [bold]{ev.protocol.name}[/]", highlight=False)
    console.print(f"[dim]{ev.protocol.source}[/]", highlight=False)
    for table in metric_tables(ev):
        console.print(table)


def eval_command(
    pred_file: Path = typer.Argument(..., help="A predictions file (.npz) written by a run."),
    protocol: str = PROTOCOL_OPTION,
) -> None:
    """Print the full metric set of a predictions file under a metric protocol."""
    with errors_as_messages():
        ev, notes = evaluate_quietly(pred_file, protocol)
    print_evaluation(pred_file, ev, notes)


def register(root: typer.Typer) -> None:
    """Add `bench eval` to the command line."""
    root.command("eval")(eval_command)
