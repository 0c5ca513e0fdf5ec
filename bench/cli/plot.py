"""``bench plot``: figures for a paper, written as PNG, PDF or SVG."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli.common import (
    SEEDS_OPTION,
    STORE_OPTION,
    VARIANT_OPTION,
    console,
    errors_as_messages,
    parse_seeds,
)
from bench.plots import ap_gains, pr_curves, study_curve
from bench.selection import study_runs
from bench.store import Store
from bench.studies import load_study

app = typer.Typer(
    help="Figures: per-class AP gains, study curves, PR curves.", no_args_is_help=True
)

OUT_HELP = "Output file; the suffix picks the format: .png, .pdf or .svg."


def _names(values: list[str]) -> list[str]:
    return [v.strip() for text in values for v in text.split(",") if v.strip()]


@app.command("voc-gains")
def voc_gains(
    target: str = typer.Argument(..., help="A row of the table (e.g. 'The Proposed') or a run id."),
    baseline: str = typer.Option(..., "--baseline", help="A row of the table or a run id."),
    table: str = typer.Option("voc", "--table", help="The per-class table."),
    version: str = typer.Option(None, "--version", help="Paper version (icassp2022, preprint)."),
    out: Path = typer.Option(Path("voc-gains.png"), "--out", help=OUT_HELP),
    store: str = STORE_OPTION,
) -> None:
    """Per-class AP gain of TARGET over --baseline, bars sorted by gain (SRN Fig. 7, top)."""
    with errors_as_messages():
        plot = ap_gains(
            target, baseline, table=table, version=version, store=lambda: Store(store, create=False)
        )
        path = plot.save(out)
    mean = plot.data["gain"].mean()
    console.print(f"wrote {path}: {len(plot.data)} classes, mean gain {mean:+.2f} points")


@app.command("study")
def study(
    name: str = typer.Argument(..., help="A study with a parameter (e.g. context_ratio)."),
    metric: list[str] = typer.Option(
        [], "--metric", help="Metric(s) to plot; repeat or comma-separate [default: the first]."
    ),
    per_class: bool = typer.Option(False, "--per-class", help="Add one line per class AP."),
    smoke: bool = typer.Option(False, "--smoke", help="The study's smoke-size runs."),
    variant: str = VARIANT_OPTION,
    seeds: str = SEEDS_OPTION,
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " [default: study-NAME.png]"),
    store: str = STORE_OPTION,
) -> None:
    """A study's metric against its parameter: mean over seeds with a ±1 std band."""
    with errors_as_messages():
        selected = study_runs(
            Store(store, create=False),
            load_study(name),
            variant=variant or "",
            seeds=parse_seeds(seeds),
            smoke=smoke,
        )
        plot = study_curve(selected, metrics=_names(metric) or None, per_class=per_class)
        path = plot.save(out or Path(f"study-{Path(name).stem}.png"))
    console.print(f"wrote {path}: {plot.data['arm'].nunique()} arms")


@app.command("pr")
def pr(
    run: str = typer.Argument(..., help="Run id (a unique key prefix)."),
    classes: list[str] = typer.Option(
        [], "--classes", help="Classes to draw; repeat or comma-separate [default: all, if <= 10]."
    ),
    out: Path = typer.Option(None, "--out", help=OUT_HELP + " [default: pr-RUN.png]"),
    store: str = STORE_OPTION,
) -> None:
    """Precision-recall curves of a run's stored predictions, one per class, AP in the legend."""
    with errors_as_messages():
        plot = pr_curves(run, Store(store, create=False), classes=_names(classes) or None)
        path = plot.save(out or Path(f"pr-{run}.png"))
    console.print(f"wrote {path}: {plot.data['class'].nunique()} classes")


def register(root: typer.Typer) -> None:
    """Add `bench plot ...` to the command line."""
    root.add_typer(app, name="plot")
