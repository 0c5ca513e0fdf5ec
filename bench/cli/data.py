"""``bench data``: datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from bench.cli.common import console, errors_as_messages, fail

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
    from scac.data import synth

    with errors_as_messages():
        root = synth.generate(out, seed=seed, train=train, val=val)
    console.print(
        f"wrote {train} train + {val} val images to {root} "
        f"(annotations/instances_train.json, annotations/instances_val.json)"
    )


@app.command("check")
def check(
    path: Path = typer.Argument(
        ..., help="Dataset folder (COCO: holds annotations/; VOC: VOCdevkit/VOC2007)."
    ),
    format: str = typer.Option("coco", "--format", help="coco or voc."),
    split: list[str] = typer.Option(
        [], "--split", help="Split(s) to check \\[default: all COCO files; VOC trainval, test]."
    ),
    no_decode: bool = typer.Option(
        False, "--no-decode", help="Only open image headers (fast; misses truncation)."
    ),
) -> None:
    """Validate a dataset tree and summarise it; exit code 1 when errors are found."""
    from scac.data.check import check_dataset

    with errors_as_messages(), Progress(console=console, transient=True) as bar:
        task = bar.add_task("checking images", total=None)
        report = check_dataset(
            path,
            format,
            list(split) or None,
            decode=not no_decode,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    for s in report.splits:
        t = Table(
            title=f"{s.split}: {s.images} images, {s.labels_per_image:.2f} labels per image, "
            f"{s.boxes} boxes, {s.without_labels} without labels, "
            f"{s.difficult_only} difficult-only labels",
            title_justify="left",
        )
        t.add_column("class")
        t.add_column("images", justify="right")
        for cls, n in s.images_per_class.items():
            t.add_row(cls, str(n))
        console.print(t)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    for e in report.errors:
        console.print(f"[red]error:[/] {e}", highlight=False)
    if not report.ok:
        fail(f"{len(report.errors)} error(s) in {report.root}", code=1)
    console.print(
        f"[green]ok[/]: {report.root} ({report.format}), {len(report.warnings)} warning(s)"
    )


@app.command("overlap")
def overlap_(
    a: Path = typer.Argument(
        ..., help="A split: COCO instances_*.json or VOC ImageSets/Main/*.txt."
    ),
    b: Path = typer.Argument(..., help="Another split, in either format."),
    show: int = typer.Option(5, "--show", help="Examples to print of each kind."),
) -> None:
    """Images shared by two splits, by image id, by file name and by the number in the file name."""
    from scac.data.overlap import overlap

    with errors_as_messages():
        o = overlap(a, b)
    console.print(f"{o.a}: {o.a_images} images; {o.b}: {o.b_images} images")
    for what, items in (
        ("same image id", o.same_id),
        ("same file name", o.same_name),
        ("same number in the file name", o.same_number),
    ):
        example = ", ".join(map(str, items[:show])) + (" ..." if len(items) > show else "")
        console.print(f"{what}: {len(items)}" + (f" (e.g. {example})" if items else ""))


def register(root: typer.Typer) -> None:
    """Add `bench data ...` to the command line."""
    root.add_typer(app, name="data")
