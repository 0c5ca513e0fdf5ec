"""``bench model``: what a recipe builds."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.common import console, errors_as_messages

app = typer.Typer(help="The model families, and the models recipes build.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """The model families every study, table, sweep and report can use, and where each comes
    from: built in, or a package's ``scac_bench.families`` entry point."""
    from scac.families.plugins import describe

    t = Table(title="model families (model.name)", title_justify="left")
    t.add_column("name")
    t.add_column("from")
    t.add_column("what it is")
    for name, origin, summary in describe():
        t.add_row(escape(name), escape(origin), escape(summary))
    console.print(t)


@app.command("summary")
def summary(
    recipe: str = typer.Argument(
        ..., help="Recipe name (studies/recipes/NAME.toml) or path, e.g. scac-coco."
    ),
    classes: int = typer.Option(
        None, "--classes", help="Number of classes \\[default: from the data format]."
    ),
) -> None:
    """Parameters per part (and trainable in the first phase); SRN's extra layers one by one."""
    from bench.models.summary import summarize_recipe

    with errors_as_messages():
        s = summarize_recipe(recipe, classes)
    t = Table(
        title=f"{s.recipe}: {s.model} on {s.backbone}, {s.num_classes} classes",
        title_justify="left",
    )
    t.add_column("part")
    t.add_column("parameters", justify="right")
    t.add_column("trainable in phase 1", justify="right")
    for p in s.parts:
        t.add_row(p.part, f"{p.parameters:,}", f"{p.trainable:,}")
    t.add_row("[bold]total[/]", f"[bold]{s.total:,}[/]", f"{sum(p.trainable for p in s.parts):,}")
    console.print(t)
    if s.extra:
        e = Table(title="layers added over the baseline", title_justify="left")
        e.add_column("layer")
        e.add_column("weight shape")
        e.add_column("parameters", justify="right")
        for layer, shape, n in s.extra:
            e.add_row(layer, " x ".join(map(str, shape)), f"{n:,}")
        e.add_row("[bold]total[/]", "", f"[bold]{sum(n for *_, n in s.extra):,}[/]")
        console.print(e)
    for note in s.notes:
        console.print(note, highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``bench model ...`` to the command line."""
    root.add_typer(app, name="model")
