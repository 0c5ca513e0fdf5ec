"""``bench run``: run studies."""

from __future__ import annotations

import typer

from bench.cli import render
from bench.cli.common import (
    NO_CACHE_OPTION,
    STORE_OPTION,
    console,
    errors_as_messages,
    interruptible,
)
from bench.progress import Reporter
from bench.queue import default_storage
from bench.report import study_table
from bench.runner import run_study
from bench.store import Store
from bench.studies import load_study
from bench.worker import enqueue_study, run_with_workers
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
    no_cache: bool = NO_CACHE_OPTION,
    workers: int = typer.Option(
        0, "--workers", help="Run with K worker processes (one GPU each, if any)."
    ),
    storage: str = typer.Option(
        None,
        "--storage",
        help="Optuna storage of the run queue (with --workers; other hosts join with "
        "`bench worker --storage URL`) [default: optuna-journal.log beside the store].",
    ),
    enqueue_only: bool = typer.Option(
        False,
        "--enqueue-only",
        help="Only put the unfinished runs in the queue of --storage, for `bench worker`s.",
    ),
    store: str = STORE_OPTION,
) -> None:
    """Run every arm x seed of a study, skipping runs the store holds as finished; print the table.

    Exit code: 0 when every run finished, 1 when any failed, 130 when interrupted.
    """
    with errors_as_messages():
        s = load_study(name)
        overrides = dict(parse_override(o) for o in set_)
        st = Store(store)
        if enqueue_only:
            queue, total, added = enqueue_study(
                s,
                st,
                storage or default_storage(st.url),
                smoke=smoke,
                seeds=_seeds(seeds),
                overrides=overrides,
            )
            console.print(f"study {s.name}: {total} runs, {added} enqueued in {queue}")
            return
        crashed = 0
        with interruptible():
            if workers > 0 or storage:
                crashed = run_with_workers(
                    s,
                    st,
                    storage or default_storage(st.url),
                    max(workers, 1),
                    smoke=smoke,
                    seeds=_seeds(seeds),
                    overrides=overrides,
                    device=device,
                    reporter=Reporter(console, live=False),
                    feature_cache=not no_cache,
                )
            else:
                run_study(
                    s,
                    st,
                    smoke=smoke,
                    seeds=_seeds(seeds),
                    overrides=overrides,
                    device=device,
                    reporter=Reporter(console),
                    feature_cache=not no_cache,
                )
        table = study_table(s, st, smoke=smoke, seeds=_seeds(seeds))
        console.print(render.study_table(table))
    members = [
        m
        for m in st.study_members(s.name)
        if bool(m["smoke"]) == smoke and (not seeds or m["seed"] in _seeds(seeds))
    ]
    failed = [m for m in members if m["status"] == "failed"]
    if failed:
        console.print(
            f"[red]{len(failed)} run(s) failed[/]; see `bench results show RUN` for the traceback"
        )
        raise typer.Exit(1)
    left = [m for m in members if m["status"] != "finished"]
    if (workers > 0 or storage) and (crashed or left):
        console.print(
            f"[red]{crashed} worker(s) exited with an error; {len(left)} run(s) not finished[/]"
            " (re-run the command, or start `bench worker`, to finish them)"
        )
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add `bench run ...` to the command line."""
    root.add_typer(app, name="run")
