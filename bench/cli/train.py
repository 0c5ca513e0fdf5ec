"""``bench train``: one run of a recipe, e.g. the paper's full-size recipe on real data."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bench.cli.common import (
    NO_CACHE_OPTION,
    NUMERICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    console,
    errors_as_messages,
    interruptible,
    parse_overrides,
    tensorboard_root,
    use_numerics,
)


def train(
    recipe: str = typer.Argument(
        ..., help="Recipe name (studies/recipes/NAME.toml) or path, e.g. scac-coco."
    ),
    data: str = typer.Option(None, "--data", help="Dataset folder (sets data.root)."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config key: key=value (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the run's last epoch checkpoint."
    ),
    amp: str = typer.Option(
        None, "--amp", help="Mixed precision on GPUs: bf16 or fp16 (sets train.amp)."
    ),
    channels_last: bool = typer.Option(
        False, "--channels-last", help="NHWC convolutions (sets train.channels_last)."
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip unreadable images, listing them in the run record."
    ),
    loader_workers: int = typer.Option(
        0, "--loader-workers", help="DataLoader worker processes (image decoding)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1..."),
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    tensorboard: Path = TENSORBOARD_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """Train and evaluate one recipe into the results store, checkpointing every epoch.

    Several GPUs: torchrun --nproc-per-node N $(which bench) train RECIPE --data PATH
    (one process per GPU; only rank 0 writes the store). Exit code 1 when the run fails.
    """
    with errors_as_messages():
        use_numerics(numerics)
    from bench.runs.claimed import RunContext
    from bench.runs.execute import run_single
    from bench.runs.plan import plan_recipe
    from bench.runs.progress import Reporter
    from bench.store import Store

    main = int(os.environ.get("RANK", "0")) == 0
    with errors_as_messages():
        overrides = parse_overrides(set_)
        if amp:
            overrides["train.amp"] = amp
        if channels_last:
            overrides["train.channels_last"] = True
        if skip_bad:
            overrides["data.skip_bad"] = True
        plan = plan_recipe(recipe, data=data, overrides=overrides, device=device)
        st = Store(store) if main else None
        ctx = RunContext(
            device=device,
            reporter=Reporter(console) if main else Reporter.silent(),
            feature_cache=not no_cache,
            num_workers=loader_workers,
            resume=resume,
            tensorboard=tensorboard_root(tensorboard),
        )
        with interruptible():
            outcome = run_single(plan, st, ctx)
    if main and outcome.status == "skipped":
        console.print(
            f"run {outcome.run_key} is already finished: "
            f"`bench results show {outcome.run_key[:12]}`"
        )
    if not outcome.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``bench train`` to the command line."""
    root.command("train")(train)
