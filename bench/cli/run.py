"""``bench run``: run studies."""

from __future__ import annotations

import typer

from bench.cli import render
from bench.cli.common import STORE_OPTION, console, errors_as_messages, interruptible
from bench.progress import Reporter
from bench.report import study_table
from bench.runner import run_study
from bench.store import Store
from bench.studies import load_study
from scac.config import parse_override

app = typer.Typer(
    help="Run studies (every arm x seed) into the results store.", no_args_is_help=True
)


def _seeds(text: str | None) -> tuple[int, ...] | None:
    return tuple(int(s) for s in text.split(",")) if text else None


@app.command("study")
def study(
    name: str = typer.Argument(..., help="Study name (studies/NAME.toml) or path to a study file."),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny data and one short epoch per phase."),
    seeds: str = typer.Option(
        None, "--seeds", help="Comma-separated seeds replacing the study's, e.g. 0,1."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config key for every run: key=value."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1..."),
    store: str = STORE_OPTION,
) -> None:
    """Run every arm x seed of a study, skipping runs the store holds as finished; print the table.

    Exit code: 0 when every run finished, 1 when any failed, 130 when interrupted.
    """
    with errors_as_messages():
        s = load_study(name)
        overrides = dict(parse_override(o) for o in set_)
        st = Store(store)
        with interruptible():
            outcome = run_study(
                s,
                st,
                smoke=smoke,
                seeds=_seeds(seeds),
                overrides=overrides,
                device=device,
                reporter=Reporter(console),
            )
        console.print(render.study_table(study_table(s, st, smoke=smoke, seeds=_seeds(seeds))))
    if outcome.failed:
        console.print(
            f"[red]{len(outcome.failed)} run(s) failed[/]; "
            "see `bench results show RUN` for the traceback"
        )
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add `bench run ...` to the command line."""
    root.add_typer(app, name="run")
