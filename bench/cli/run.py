"""``bench run``: run studies."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from bench.cli import study_table as render
from bench.cli.common import (
    CI_OPTION,
    NO_CACHE_OPTION,
    NUMERICS_OPTION,
    SEEDS_OPTION,
    STORE_OPTION,
    TENSORBOARD_OPTION,
    VARIANT_OPTION,
    console,
    errors_as_messages,
    interruptible,
    parse_overrides,
    parse_seeds,
    tensorboard_root,
    use_numerics,
)

SMOKE_OPTION = typer.Option(False, "--smoke", help="Tiny data and one short epoch per phase.")
DEVICE_OPTION = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1...")
WORKERS_OPTION = typer.Option(
    None,
    "--workers",
    min=0,
    help="Run with K worker processes side by side (one GPU each, if any); 0: all in this "
    "process \\[default: on a CPU one per train.cpu_threads cores, on GPUs one per GPU; "
    "with --smoke, 0].",
    show_default=False,
)

app = typer.Typer(
    help="Run studies (every arm x seed) into the results store.", no_args_is_help=True
)


@app.command("study")
def study(
    name: str = typer.Argument(..., help="Study name (studies/NAME.toml) or path to a study file."),
    smoke: bool = SMOKE_OPTION,
    seeds: str = SEEDS_OPTION,
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override a config key for every run: key=value. The runs form a variant of the "
        "study, kept beside its plain runs.",
    ),
    variant: str = VARIANT_OPTION,
    device: str = DEVICE_OPTION,
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    workers: int = WORKERS_OPTION,
    storage: str = typer.Option(
        None,
        "--queue-storage",
        "--storage",
        help="Where the run queue lives, an Optuna storage (with --workers; other hosts join "
        "with `bench worker --queue-storage URL`); --store is where results go \\[default: "
        "optuna-journal.log beside the store].",
    ),
    enqueue_only: bool = typer.Option(
        False,
        "--enqueue-only",
        help="Only put the unfinished runs in the queue of --queue-storage, for `bench worker`s.",
    ),
    tensorboard: Path = TENSORBOARD_OPTION,
    ci: str = CI_OPTION,
    detail: bool = typer.Option(
        False, "--detail", help="Also show each seed's difference and P(arm > reference)."
    ),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the table as Markdown (for a paper's or a repo's text)."
    ),
    store: str = STORE_OPTION,
) -> None:
    """Run every arm x seed of a study, skipping runs the store holds as finished; print the table.

    Layers of each run's config: recipe, recipe [smoke], study set, arm, study [smoke], seed,
    --set (last). Exit code: 0 when every run of this invocation finished, 1 when any did not,
    130 when interrupted.
    """
    _run_and_print(
        name, smoke=smoke, seeds=seeds, overrides=set_, variant=variant,
        device=device, numerics=numerics, no_cache=no_cache, workers=workers, storage=storage,
        enqueue_only=enqueue_only, tensorboard=tensorboard, ci=ci, detail=detail,
        markdown=markdown, store=store,
    )  # fmt: skip


GRID_HELP = """Run the product of a few settings as a study: one arm per point, the first point the
reference. The study file is written to $BENCH_STUDIES or ./studies as NAME.toml, so `bench
run study NAME` and every table, plot and report find it again; a NAME that holds another
study is refused. Example: bench run grid synth --vary model.context_ratio=1,3,5 --vary
loss.alpha=0.5,1 --seeds 0,1,2 --name ratio_alpha"""


@app.command("grid", help=GRID_HELP)
def grid(
    recipe: str = typer.Argument(..., help="Recipe name (studies/recipes/NAME.toml) or path."),
    vary: list[str] = typer.Option(
        ..., "--vary", help="A key and its values: key=v1,v2,... (repeat for more keys)."
    ),
    name: str = typer.Option(..., "--name", help="The study's name (its file NAME.toml)."),
    seeds: str = typer.Option("0", "--seeds", help="Seeds of every point, e.g. 0,1,2."),
    set_: list[str] = typer.Option(
        [], "--set", help="A setting of every point, written into the study: key=value."
    ),
    smoke: bool = SMOKE_OPTION,
    device: str = DEVICE_OPTION,
    numerics: str = NUMERICS_OPTION,
    no_cache: bool = NO_CACHE_OPTION,
    workers: int = WORKERS_OPTION,
    tensorboard: Path = TENSORBOARD_OPTION,
    ci: str = CI_OPTION,
    store: str = STORE_OPTION,
) -> None:
    with errors_as_messages():
        use_numerics(numerics)  # before anything could load torch
    from bench.studies.grids import parse_axis, write_grid

    with errors_as_messages():
        axes = [parse_axis(v) for v in vary]
        path, written = write_grid(
            name, recipe, axes, parse_seeds(seeds) or (0,), parse_overrides(set_)
        )
    console.print(f"{'wrote' if written else 'found'} study {escape(str(path))}", highlight=False)
    _run_and_print(
        str(path), smoke=smoke, seeds=None, overrides=[], variant=None, device=device,
        numerics=numerics, no_cache=no_cache, workers=workers, storage=None,
        enqueue_only=False, tensorboard=tensorboard, ci=ci, detail=False, markdown=False,
        store=store,
    )  # fmt: skip


def _run_and_print(
    name: str, *, smoke, seeds, overrides, variant, device, numerics, no_cache, workers,
    storage, enqueue_only, tensorboard, ci, detail, markdown, store,
) -> None:  # fmt: skip
    """What `bench run study` and `bench run grid` do once the study file exists: plan, run
    (here or with workers), print the table; exit 1 when a run of this invocation failed."""
    with errors_as_messages():
        use_numerics(numerics)
    from bench.runs.claimed import RunContext
    from bench.runs.execute import run_plan
    from bench.runs.parallel import auto_workers, default_storage
    from bench.runs.plan import plan_study
    from bench.runs.progress import Reporter
    from bench.store import Store
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs
    from bench.tables.study import study_table

    with errors_as_messages():
        s = load_study(name, validate=False)  # planning builds (and checks) every config
        plan = plan_study(
            s,
            smoke=smoke,
            seeds=parse_seeds(seeds),
            overrides=parse_overrides(overrides),
            variant=variant,
            device=device,
        )
        st = Store(store)
        if workers is None:
            workers = auto_workers(plan, st, device)
            workers = 0 if workers == 1 and storage is None else workers
        many = workers > 0 or storage is not None
        ctx = RunContext(
            device=device, reporter=Reporter(console, live=False if many else None),
            feature_cache=not no_cache, tensorboard=tensorboard_root(tensorboard),
        )  # fmt: skip
        queue_storage = storage or default_storage(st.url)
        if enqueue_only:
            from bench.runs.workers import enqueue_plan  # Optuna loads only where a queue is used

            queue, total, added = enqueue_plan(plan, st, queue_storage)
            console.print(f"study {plan.title()}: {total} runs, {added} enqueued in {queue}")
            return
        with interruptible():
            if many:
                from bench.runs.workers import run_with_workers

                run_with_workers(plan, st, queue_storage, max(workers, 1), ctx)
            else:
                run_plan(plan, st, ctx)
        selected = study_runs(st, s, variant=plan.variant, seeds=plan.seeds, smoke=smoke)
        table = study_table(selected, ci=ci)
        if markdown:
            typer.echo(table.markdown(detail))
        else:
            console.print(render.study_table(table, detail=detail))
    # this invocation's runs, and only those, decide the exit code; read from the store, which
    # also knows the outcomes of runs that workers (other processes) trained
    left = [spec for spec in plan.distinct if st.status(spec.key) != "finished"]
    if left:
        failed = sum(st.status(spec.key) in ("failed", "pruned") for spec in left)
        console.print(
            f"[red]{len(left)} run(s) of this study did not finish ({failed} failed)[/]: "
            "`bench results list --study NAME` shows them, `bench results show RUN` the error; "
            "run the command again to retry them"
        )
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add `bench run ...` to the command line."""
    root.add_typer(app, name="run")
