"""``bench worker``: work through the runs queued in an Optuna storage."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli.common import (
    NO_CACHE_OPTION,
    NUMERICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    VARIANT_OPTION,
    console,
    errors_as_messages,
    interruptible,
    tensorboard_root,
    use_numerics,
)


def worker(
    storage: str = typer.Option(
        ...,
        "--queue-storage",
        "--storage",
        help="The run queue's Optuna storage: a PostgreSQL URL, or a journal file path "
        "(--store is where results go).",
    ),
    study: str = typer.Option(
        None, "--study", help="Only this study's runs \\[default: every queued study]."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="With --study: its smoke-size runs."),
    variant: str = VARIANT_OPTION,
    queue: str = typer.Option(
        None, "--queue", help="An exact queue name (bench-study:NAME[:smoke])."
    ),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Keep polling while other workers' runs are in flight."
    ),
    device: str = typer.Option(
        "auto", "--device", help="auto, cpu, cuda (CUDA_VISIBLE_DEVICES picks the GPU)."
    ),
    loader_workers: int = typer.Option(
        0, "--loader-workers", help="DataLoader worker processes (image decoding)."
    ),
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    tensorboard: Path = TENSORBOARD_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """Claim queued runs one at a time and write them to the results store, until none is left.

    One per GPU: CUDA_VISIBLE_DEVICES=0 bench worker --storage URL, CUDA_VISIBLE_DEVICES=1 ...
    Exit code 1 when a run failed; 2 when a queued run was planned for another numerics path
    (it goes back to the queue).
    """
    with errors_as_messages():
        use_numerics(numerics)
    from bench.runs.claimed import RunContext
    from bench.runs.progress import Reporter
    from bench.runs.queue import queue_name
    from bench.runs.workers import work
    from bench.store import Store

    name = queue or (queue_name(study, smoke, variant or "") if study else None)
    with errors_as_messages(), interruptible():
        ctx = RunContext(
            device=device,
            reporter=Reporter(console, live=False),
            feature_cache=not no_cache,
            num_workers=loader_workers,
            tensorboard=tensorboard_root(tensorboard),
        )
        report = work(storage, Store(store), ctx, queue=name, wait=wait)
    console.print(f"worker done: {len(report.finished)} finished, {len(report.failed)} failed")
    if report.failed:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``bench worker`` to the command line."""
    root.command("worker")(worker)
