"""``bench data``: datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli.common import console, errors_as_messages
from scac.data import synth

app = typer.Typer(help="Generate and check datasets.", no_args_is_help=True)


@app.command("synth")
def synth_(
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset to (COCO format)."),
    seed: int = typer.Option(
        0, "--seed", help="Dataset seed: the same seed gives the same dataset."
    ),
    train: int = typer.Option(1000, "--train", help="Number of training images."),
    val: int = typer.Option(500, "--val", help="Number of validation images."),
) -> None:
    """Write the synthetic context benchmark: look-alike objects only context tells apart."""
    with errors_as_messages():
        root = synth.generate(out, seed=seed, train=train, val=val)
    console.print(
        f"wrote {train} train + {val} val images to {root} "
        f"(annotations/instances_train.json, annotations/instances_val.json)"
    )


def register(root: typer.Typer) -> None:
    """Add `bench data ...` to the command line."""
    root.add_typer(app, name="data")
