"""``bench table NAME``: a paper's table regenerated, reported rows beside measured ones."""

from __future__ import annotations

from pathlib import Path

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


def score_files(entries: list[str], truth: Path | None, split: str, protocol: str) -> dict:
    """``{NAME: (FILE, Evaluation)}`` of ``--predictions NAME=FILE`` entries."""
    from scac.foreign import read_predictions, read_truth
    from scac.metrics import evaluate_predictions

    if not entries:
        return {}
    gt = read_truth(truth, split=split) if truth is not None else None
    files = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--predictions takes NAME=FILE, got {entry!r}")
        if name.strip() in files:
            raise ValueError(f"--predictions: the name {name.strip()!r} is given twice")
        pred = read_predictions(Path(path.strip()), gt)
        files[name.strip()] = (path.strip(), evaluate_predictions(pred, protocol))
    return files


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
    predictions: list[str] = typer.Option(
        [],
        "--predictions",
        help="NAME=FILE: add a row scored from a predictions file (a run's .npz, or another "
        "codebase's .csv/.npy/.npz/.json with --truth); repeat for more.",
    ),
    truth: Path = typer.Option(
        None, "--truth", help="The predictions' ground truth: COCO .json, VOC folder or .csv."
    ),
    split: str = typer.Option("test", "--split", help="With a VOC folder: its split."),
    protocol: str = typer.Option(
        "default", "--protocol", "-p", help="The protocol the --predictions rows are scored under."
    ),
    store: str = STORE_OPTION,
) -> None:
    """Print a paper's table: reported rows, your measured rows, best per column in bold.

    Tables: coco and voc are SCAC's Tables 1 and 2; srn-nus, srn-coco, srn-wider SRN's
    Tables 1-3; lc-coco, lc-nus, lc-ablation, lc-backbones, lc-partial the latent-context
    paper's Tables 1-5. Measured rows carry the interval of their mAP difference to the
    reference (the study's reference arm, the --delta-to row, or the first measured row), over
    seeds and images unless --ci says otherwise. Rows from --predictions files are scored
    here under --protocol (one prediction set each: no interval).
    """
    from bench.store import Store
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs
    from bench.tables.build import build_table
    from bench.tables.formats import render

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    with errors_as_messages():
        st = Store(store, create=False) if runs or study else None
        selected = None
        if study:
            assert st is not None
            selected = study_runs(
                st, load_study(study), variant=variant or "", seeds=parse_seeds(seeds), smoke=smoke
            )
        view = build_table(
            name, version=version, store=st, runs=_ids(runs), study=selected, delta_to=delta_to,
            ci=ci, files=score_files(predictions, truth, split, protocol),
        )  # fmt: skip
    out = render(view, fmt)
    if fmt == "rich":
        console.print(out)
    else:
        typer.echo(out, nl=False)


def register(root: typer.Typer) -> None:
    """Add `bench table NAME` to the command line."""
    root.command("table")(table)
