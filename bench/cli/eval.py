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


def evaluate_quietly(path: Path, protocol: str, pred=None) -> tuple[Evaluation, list[str]]:
    """Evaluate ``path`` (or the predictions ``pred`` read from it) under ``protocol``,
    collecting the library's warnings as lines."""
    from scac.metrics import evaluate_file, evaluate_predictions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_file(path, protocol) if pred is None else evaluate_predictions(pred, protocol)
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
    pred_file: Path = typer.Argument(
        ..., help="Predictions: a run's .npz, or another codebase's .csv/.npy/.npz/.json."
    ),
    versus: Path = typer.Argument(
        None, help="A second predictions file: the first is compared with it, image by image."
    ),
    truth: Path = typer.Option(
        None,
        "--truth",
        help="Ground truth of another codebase's predictions: COCO annotations (.json), a VOC "
        "2007 folder or a label .csv.",
    ),
    split: str = typer.Option("test", "--split", help="With a VOC folder: its split."),
    classes: str = typer.Option(
        None, "--classes", help="The class names of a .npy's columns, comma-separated."
    ),
    kind: str = typer.Option(
        None, "--kind", help="probability or logit \\[default: probability if all in [0, 1]]."
    ),
    id_column: str = typer.Option(None, "--id-column", help="The CSVs' image id column."),
    protocol: str = PROTOCOL_OPTION,
) -> None:
    """Print the full metric set of a predictions file under a metric protocol; with a second
    file, both and the paired difference (an interval over images, P(first > second))."""
    from scac.foreign import read_predictions, read_truth

    with errors_as_messages():
        gt = read_truth(truth, split=split, id_column=id_column) if truth else None
        names = [c.strip() for c in classes.split(",")] if classes else None

        def read(path: Path):
            return read_predictions(path, gt, classes=names, kind=kind, id_column=id_column)

        first = read(pred_file)
        ev, notes = evaluate_quietly(pred_file, protocol, first)
        second = read(versus) if versus is not None else None
    print_evaluation(pred_file, ev, notes)
    if second is not None:
        with errors_as_messages():
            print_comparison(pred_file, first, versus, second, protocol)


def print_comparison(path_a: Path, a, path_b: Path, b, protocol: str) -> None:
    """mAP, CF1 and OF1 of both, and the paired difference in mAP over the images."""
    from scac.metrics import evaluate_predictions
    from scac.metrics.variance import seed_image_interval

    if a.classes != b.classes or list(a.image_ids) != list(b.image_ids):
        raise ValueError(f"{path_a} and {path_b} do not hold the same images and classes")
    kind = "logit" if a.logits is not None and b.logits is not None else "probability"
    values = [p.values(kind)[0] for p in (a, b)]
    ci = seed_image_interval(
        [tuple(values)], a.targets, a.mask, protocol=protocol, method="images",
        score_kind=kind,
    )  # fmt: skip
    table = Table(title=f"{path_a.name} against {path_b.name} (protocol {protocol})",
                  title_justify="left")  # fmt: skip
    table.add_column("")
    for name in ("mAP", "CF1", "OF1"):
        table.add_column(name, justify="right")
    for path, pred in ((path_a, a), (path_b, b)):
        m = evaluate_predictions(pred, protocol).metrics
        table.add_row(path.name, *[_cell(m[k]) for k in ("mAP", "CF1", "OF1")])
    console.print(table)
    console.print(
        f"ΔmAP {ci.delta:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]: 95% interval over the images "
        f"(one prediction set each, so run-to-run chance is not counted); P(first > second) "
        f"over image resamples {ci.p_improve:.2f}",
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    """Add `bench eval` to the command line."""
    root.command("eval")(eval_command)
