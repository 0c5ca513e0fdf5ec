"""``bench sweep``: Optuna hyperparameter sweeps (``bench sweep NAME`` runs one)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from typer.core import TyperGroup

from bench.cli.common import (
    NO_CACHE_OPTION,
    NUMERICS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    console,
    errors_as_messages,
    interruptible,
    tensorboard_root,
    use_numerics,
)


class _RunByDefault(TyperGroup):
    """``bench sweep NAME ...`` means ``bench sweep run NAME ...``."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Optuna sweeps over config keys: `bench sweep NAME --trials N`, then `report` and `test`.",
)

STORAGE = typer.Option(
    None,
    "--storage",
    help="Optuna storage: a PostgreSQL URL for many hosts, or a journal "
    "file \\[default: optuna-journal.log beside the store].",
)


def _storage(storage: str | None, store: str | None) -> str:
    from bench.runs.parallel import default_storage
    from bench.store import to_url

    return storage or default_storage(to_url(store) if store else None)


def _on_sweep(
    action,
    name: str,
    store: str | None,
    storage: str | None,
    device: str,
    cache: bool,
    board: Path | None,
    numerics: str | None = None,
    **options,
):
    """(sweep, ``action(sweep, store, storage, ctx, **options)``), interruptible; ``board``:
    the --tensorboard folder, ``numerics`` the --numerics mode."""
    use_numerics(numerics)
    from bench.runs.claimed import RunContext
    from bench.runs.progress import Reporter
    from bench.store import Store
    from bench.sweeps.files import load_sweep

    sweep = load_sweep(name)
    ctx = RunContext(
        device=device,
        reporter=Reporter(console, live=False),
        feature_cache=cache,
        tensorboard=tensorboard_root(board),
    )
    with interruptible():
        result = action(sweep, Store(store), _storage(storage, store), ctx, **options)
    return sweep, result


@app.command("run")
def run(
    name: str = typer.Argument(..., help="Sweep name (studies/sweeps/NAME.toml) or path."),
    trials: int = typer.Option(
        None,
        "--trials",
        min=1,
        help="Target number of complete + pruned trials \\[default: the file's].",
    ),
    smoke: bool = typer.Option(
        False, "--smoke", help="Tiny data (the recipe's and the sweep's \\[smoke])."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda..."),
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    tensorboard: Path = TENSORBOARD_OPTION,
    storage: str = STORAGE,
    store: str = STORE_OPTION,
) -> None:
    """Run (or continue) a sweep until it holds N complete or pruned trials; many hosts may join."""
    from bench.sweeps.search import done_trials, run_sweep

    with errors_as_messages():
        sweep, study = _on_sweep(
            run_sweep,
            name,
            store,
            storage,
            device,
            not no_cache,
            tensorboard,
            numerics,
            trials=trials,
            smoke=smoke,
        )
    console.print(
        f"sweep {sweep.name}: {done_trials(study)} complete or pruned trials; "
        f"`bench sweep report {sweep.name}` for the findings"
    )


@app.command("report")
def report(
    name: str = typer.Argument(..., help="Sweep name or path."),
    out: Path = typer.Option(
        None, "--out", help="Folder for the plots \\[default: results/plots/sweep-NAME]."
    ),
    top: int = typer.Option(5, "--top", help="Best trials to list."),
    smoke: bool = typer.Option(False, "--smoke", help="The smoke-size sweep."),
    storage: str = STORAGE,
    store: str = STORE_OPTION,
) -> None:
    """Best trials, parameter importances, and Optuna's history, importance and parallel plots."""
    from bench.sweeps.files import load_sweep
    from bench.sweeps.findings import sweep_findings

    with errors_as_messages():
        sweep = load_sweep(name)
        folder = out or Path("results") / "plots" / f"sweep-{sweep.name}"
        r = sweep_findings(sweep, _storage(storage, store), folder, smoke=smoke, top=top)
    console.print(
        f"sweep {r.name} ({r.metric}, validation): "
        + ", ".join(f"{n} {k.lower()}" for k, n in r.states.items())
    )
    t = Table(title="best trials", title_justify="left")
    for col in ("trial", r.metric, "parameters", "run"):
        t.add_column(col)
    for b in r.best:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in b["params"].items()
        )
        t.add_row(str(b["number"]), f"{b['value']:.2f}", params, (b["run_key"] or "-")[:12])
    console.print(t)
    if r.importances:
        i = Table(title="parameter importances (fANOVA)", title_justify="left")
        i.add_column("parameter")
        i.add_column("importance", justify="right")
        for k, v in r.importances.items():
            i.add_row(k, f"{v:.3f}")
        console.print(i)
    for p in r.plots:
        console.print(f"wrote {p}")


@app.command("test")
def test(
    name: str = typer.Argument(..., help="Sweep name or path."),
    smoke: bool = typer.Option(False, "--smoke", help="The smoke-size sweep."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda..."),
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    tensorboard: Path = TENSORBOARD_OPTION,
    storage: str = STORAGE,
    store: str = STORE_OPTION,
) -> None:
    """Train the best trial's config on the whole training split; evaluate it once on test."""
    from bench.sweeps.search import final_test

    with errors_as_messages():
        _, outcome = _on_sweep(
            final_test,
            name,
            store,
            storage,
            device,
            not no_cache,
            tensorboard,
            numerics,
            smoke=smoke,
        )
    console.print(outcome.describe())
    if not outcome.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add ``bench sweep ...`` to the command line."""
    root.add_typer(app, name="sweep")
