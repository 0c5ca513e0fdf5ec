"""``bench table NAME``: a paper's table regenerated, reported rows beside measured ones."""

from __future__ import annotations

import typer

from bench.cli.common import (
    CI_OPTION,
    SEEDS_OPTION,
    STORE_OPTION,
    VARIANT_OPTION,
    console,
    errors_as_messages,
    fail,
    parse_seeds,
)
from bench.tables.formats import FORMATS
from bench.tables.reported import table_names


def _ids(values: list[str]) -> list[str]:
    return [v for text in values for v in text.split(",") if v]


def table(
    name: str = typer.Argument(..., help=f"The table: {', '.join(table_names())}."),
    runs: list[str] = typer.Option(
        [], "--runs", help="Run ids (unique key prefixes) to add as rows; repeat or comma-separate."
    ),
    study: str = typer.Option(
        None, "--study", help="Add one row per arm of this study (mean ± std over seeds)."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="With --study: its smoke-size runs."),
    variant: str = VARIANT_OPTION,
    seeds: str = SEEDS_OPTION,
    version: str = typer.Option(
        None, "--version", help="Paper version where two exist (coco, voc: icassp2022, preprint)."
    ),
    fmt: str = typer.Option("rich", "--format", help=f"Output: {', '.join(FORMATS)}."),
    delta_to: str = typer.Option(
        None, "--delta-to", help="Show every row as its difference to this row (label or method)."
    ),
    ci: str = CI_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """Print a paper's table: reported rows, your measured rows, best per column in bold.

    Tables: coco and voc are SCAC's Tables 1 and 2; srn-nus, srn-coco, srn-wider SRN's
    Tables 1-3; lc-coco, lc-nus, lc-ablation, lc-backbones, lc-partial the latent-context
    paper's Tables 1-5. Measured rows carry the interval of their mAP difference to the
    reference (the study's reference arm, the --delta-to row, or the first measured row), over
    seeds and images unless --ci says otherwise.
    """
    from bench.selection import study_runs
    from bench.store import Store
    from bench.studies import load_study
    from bench.tables.build import build_table
    from bench.tables.formats import render

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    with errors_as_messages():
        st = Store(store, create=False) if runs or study else None
        selected = None
        if study:
            selected = study_runs(
                st, load_study(study), variant=variant or "", seeds=parse_seeds(seeds), smoke=smoke
            )
        view = build_table(
            name, version=version, store=st, runs=_ids(runs), study=selected, delta_to=delta_to,
            ci=ci,
        )  # fmt: skip
    out = render(view, fmt)
    if fmt == "rich":
        console.print(out)
    else:
        typer.echo(out, nl=False)


def register(root: typer.Typer) -> None:
    """Add `bench table NAME` to the command line."""
    root.command("table")(table)
