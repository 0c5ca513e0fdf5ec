"""``bench results``: what the store holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.common import STORE_OPTION, VARIANT_OPTION, console, errors_as_messages
from bench.cli.eval import evaluate_quietly, print_evaluation
from bench.store.states import STATES
from scac.metrics.protocols import PROTOCOLS

app = typer.Typer(help="List and inspect the runs in the results store.", no_args_is_help=True)


@app.command("list")
def list_(
    study: str = typer.Option(None, "--study", help="Only runs of this study."),
    variant: str = typer.Option(
        None,
        "--variant",
        help="Only this variant of the study ('' for the plain study) \\[default: all].",
        show_default=False,
    ),
    status: str = typer.Option(
        None, "--status", help=f"Only runs in this state: {', '.join(STATES)}.", show_default=False
    ),
    store: str = STORE_OPTION,
) -> None:
    """One line per run and study membership: key, study, variant, arm, seed, state, mAP, time.

    State ``stale``: recorded as running, but its process is gone (killed, or its host stopped
    beating); the next command that wants the run takes it over.
    """
    from bench.store import Store

    with errors_as_messages():
        rows = Store(store, create=False).list_runs(study=study, status=status, variant=variant)
    t = Table(title=f"{len(rows)} run record(s)", title_justify="left")
    columns = ("run", "study", "variant", "arm", "seed", "state", "model", "mAP", "seconds")
    for col in (*columns, "updated"):
        t.add_column(col, justify="right" if col in ("seed", "mAP", "seconds") else "left")
    for r in rows:
        m = (r["metrics"] or {}).get("mAP")
        t.add_row(
            r["run_key"][:12],
            (r["study"] or "-") + (" (smoke)" if r["smoke"] else ""),
            r["variant"] or "-",
            r["arm"] or "-",
            "-" if r["seed"] is None else str(r["seed"]),
            r["state"],
            r["model"],
            "-" if m is None else f"{m:.1f}",
            "-" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f}",
            r["updated_at"].strftime("%Y-%m-%d %H:%M"),
        )
    console.print(t)


def _grid(title: str, values: dict, per_row: int = 5, number: str = "{:.2f}") -> Table:
    """Name/value pairs, several per row (as many as the terminal holds), so a long list fits."""
    from bench.store.diff import shown

    per_row = max(1, min(per_row, (console.width or 80) // 28))
    t = Table(title=title, title_justify="left", show_header=False)
    items = list(values.items())
    for _ in range(2 * min(per_row, len(items))):
        t.add_column()
    for i in range(0, len(items), per_row):
        chunk = items[i : i + per_row]
        cells = [(k, number.format(v) if isinstance(v, float) else shown(v)) for k, v in chunk]
        t.add_row(*[c for k, v in cells for c in (f"[bold]{k}[/]", v)])
    return t


def _vertical(title: str, values: dict) -> Table:
    """One metric per line: name, value (%)."""
    t = Table(title=title, title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in values.items():
        t.add_row(k, "-" if v is None or v != v else f"{v:.2f}")
    return t


def _curves(rows: list[dict]) -> Table | None:
    """The run's training curve, one line per quantity: first, best and last value (step)."""
    from bench.telemetry.curves import summarize_curves

    summaries = summarize_curves(rows)
    if not summaries:
        return None
    t = Table(
        title="training curves (value @ step; best: lowest loss, highest validation metric)",
        title_justify="left",
    )
    for col in ("quantity", "points", "first", "best", "last"):
        t.add_column(col, justify="left" if col == "quantity" else "right")
    for c in summaries:
        best = "-" if c.best is None else f"{c.best[1]:.4g} @ {c.best[0]}"
        t.add_row(
            c.name, str(c.points), f"{c.first[1]:.4g} @ {c.first[0]}", best,
            f"{c.last[1]:.4g} @ {c.last[0]}",
        )  # fmt: skip
    return t


@app.command("show")
def show(
    run: str = typer.Argument(..., help="Run key, or a unique prefix of it."),
    protocol: str = typer.Option(
        None,
        "--protocol",
        "-p",
        help="Recompute the metrics under this protocol from the run's stored predictions: "
        f"{', '.join(PROTOCOLS.names())}.",
        show_default=False,
    ),
    store: str = STORE_OPTION,
) -> None:
    """A run's provenance, metrics (one per line), its training curves summarised (first, best,
    last value of each loss term, learning rate, validation metric), per-class AP, config, and
    the error of a failed run."""
    from bench.store import Store
    from bench.store.diff import flat

    with errors_as_messages():
        db = Store(store, create=False)
        r = db.get(run)
        history = db.history([r.run_key])
        if protocol is not None:
            if not r.artifacts:
                raise ValueError(f"run {r.run_key} has no artifacts folder, so no predictions")
            pred_file = Path(r.artifacts) / "predictions.npz"
            ev, notes = evaluate_quietly(pred_file, protocol)
    console.print(
        f"[bold]run {r.run_key}[/]  state [bold]{r.state}[/]  model {r.model}  "
        f"attempts {r.attempts}  owner {r.owner}"
    )
    console.print(
        f"commit {r.git_commit or '-'}  device {r.device or '-'}  host {r.host or '-'}  "
        f"wall {r.wall_seconds or 0:.1f} s  artifacts {r.artifacts or '-'}"
    )
    if r.versions:
        console.print("versions " + json.dumps(r.versions))
    if r.provenance:
        console.print(_grid("provenance", flat(r.provenance), per_row=3, number="{:g}"))
    for note in (r.details or {}).get("warnings", []):
        console.print(f"[yellow]warning[/] {note}", highlight=False)
    if protocol is not None:
        print_evaluation(pred_file, ev, notes)
    if r.metrics and protocol is None:
        console.print(_vertical("metrics (%)", r.metrics))
    if (curves := _curves(history)) is not None:
        console.print(curves)
    if r.per_class_ap and protocol is None:
        console.print(_grid("AP per class (%)", r.per_class_ap))
    t = Table(title="config", title_justify="left")
    t.add_column("key")
    t.add_column("value")
    for k, v in flat(r.config).items():
        t.add_row(k, json.dumps(v))
    console.print(t)
    if r.error:
        console.print("[bold red]error[/]")
        console.print(r.error, markup=False, highlight=False)


@app.command("diff")
def diff(
    run_a: str = typer.Argument(..., help="A run key (or unique prefix)."),
    run_b: str = typer.Argument(..., help="Another run key (or unique prefix)."),
    store: str = STORE_OPTION,
    store_b: str = typer.Option(
        None,
        "--store-b",
        help="The second run's store, when it is in another one \\[default: --store].",
        show_default=False,
    ),
) -> None:
    """Every difference between two runs: config, code, provenance (machine, threads, weights
    and data digests), then metrics. Explains why two runs give other numbers."""
    from bench.store import Store
    from bench.store.diff import diff_runs, shown

    with errors_as_messages():
        a = Store(store, create=False).get(run_a)
        b = Store(store_b or store, create=False).get(run_b)
    differences = diff_runs(a, b)
    t = Table(
        title=f"run {a.run_key[:12]} (a) against run {b.run_key[:12]} (b): "
        f"{len(differences)} difference(s)",
        title_justify="left",
    )
    for col in ("section", "key", "a", "b"):
        t.add_column(col, overflow="fold")
    for d in differences:
        t.add_row(d.section, d.key, shown(d.a), shown(d.b))
    console.print(t)
    if not [d for d in differences if d.section != "metrics"]:
        console.print("config, code and provenance are the same")


@app.command("export-tb")
def export_tb(
    out: Path = typer.Argument(
        ..., help="Folder to write into (point `tensorboard --logdir` at it)."
    ),
    runs: list[str] = typer.Option(
        [], "--run", help="A run id (unique key prefix); repeatable \\[default: every run]."
    ),
    study: str = typer.Option(None, "--study", help="Only this study's runs."),
    smoke: bool = typer.Option(False, "--smoke", help="With --study: its smoke-size runs."),
    variant: str = VARIANT_OPTION,
    store: str = STORE_OPTION,
) -> None:
    """Write TensorBoard event files of runs already in the store: each run's training curve
    and final metrics, one subfolder per study/arm/seed-run. Exporting again replaces them."""
    import warnings

    from bench.store import Store
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs
    from bench.telemetry.tensorboard import export_runs

    with errors_as_messages(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = Store(store, create=False)
        if study:
            selected = study_runs(db, load_study(study), variant=variant or "", smoke=smoke)
            chosen: list = [r for r in selected.rows if r["state"] != "pending"]
            if not chosen:
                raise ValueError(selected.nothing_finished())
        else:
            chosen = list(runs) or [r for r in db.list_runs() if r["state"] != "pending"]
        folders = export_runs(db, chosen, out)
    for w in caught:
        console.print(f"[yellow]warning[/] {w.message}", highlight=False)
    console.print(f"wrote {len(folders)} run folder(s) under {out}: tensorboard --logdir {out}")


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="The file to write: .csv, .parquet or .jsonl."),
    fmt: str = typer.Option(
        None, "--format", help="csv, parquet or jsonl \\[default: the file's suffix]."
    ),
    study: str = typer.Option(None, "--study", help="Only this study's runs."),
    variant: str = typer.Option(
        None, "--variant", help="Only this variant ('' for the plain study) \\[default: all]."
    ),
    state: str = typer.Option(None, "--status", help="Only runs in this state."),
    store: str = STORE_OPTION,
) -> None:
    """Write the runs as a table, one row per run: record, config (dotted columns), metrics,
    AP per class, provenance (as `bench.api.open_store(URL).runs()` gives them)."""
    from bench.api import open_store

    with errors_as_messages():
        path = open_store(store).export(out, fmt, study=study, variant=variant, state=state)
    console.print(f"wrote {escape(str(path))}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add `bench results ...` to the command line."""
    root.add_typer(app, name="results")
