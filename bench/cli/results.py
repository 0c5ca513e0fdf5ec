"""``bench results``: what the store holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from bench.cli.common import STORE_OPTION, console, errors_as_messages
from bench.cli.eval import evaluate_quietly, print_evaluation
from bench.store import Store
from scac.config import flatten, from_dict
from scac.metrics import PROTOCOLS

app = typer.Typer(help="List and inspect the runs in the results store.", no_args_is_help=True)


@app.command("list")
def list_(
    study: str = typer.Option(None, "--study", help="Only runs of this study."),
    status: str = typer.Option(
        None, "--status", help="Only runs with this status (finished, failed...)."
    ),
    store: str = STORE_OPTION,
) -> None:
    """One line per run (and study membership): key, study, arm, seed, status, mAP, time."""
    with errors_as_messages():
        rows = Store(store).list_runs(study=study, status=status)
    t = Table(title=f"{len(rows)} run record(s)", title_justify="left")
    for col in ("run", "study", "arm", "seed", "status", "model", "mAP", "seconds", "updated"):
        t.add_column(col, justify="right" if col in ("seed", "mAP", "seconds") else "left")
    for r in rows:
        m = (r["metrics"] or {}).get("mAP")
        t.add_row(
            r["run_key"][:12],
            (r["study"] or "-") + (" (smoke)" if r["smoke"] else ""),
            r["arm"] or "-",
            "-" if r["seed"] is None else str(r["seed"]),
            r["status"],
            r["model"],
            "-" if m is None else f"{m:.1f}",
            "-" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f}",
            r["updated_at"].strftime("%Y-%m-%d %H:%M"),
        )
    console.print(t)


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
    """A run's provenance, metrics, per-class AP, config, and the error of a failed run."""
    with errors_as_messages():
        r = Store(store).get(run)
        if protocol is not None:
            if not r.artifacts:
                raise ValueError(f"run {r.run_key} has no artifacts folder, so no predictions")
            pred_file = Path(r.artifacts) / "predictions.npz"
            ev, notes = evaluate_quietly(pred_file, protocol)
    console.print(
        f"[bold]run {r.run_key}[/]  status [bold]{r.status}[/]  model {r.model}  "
        f"attempts {r.attempts}"
    )
    console.print(
        f"commit {r.git_commit or '-'}  device {r.device or '-'}  host {r.host or '-'}  "
        f"wall {r.wall_seconds or 0:.1f} s  artifacts {r.artifacts or '-'}"
    )
    if r.versions:
        console.print("versions " + json.dumps(r.versions))
    if protocol is not None:
        print_evaluation(pred_file, ev, notes)
    if r.metrics and protocol is None:
        t = Table(title="metrics (%)", title_justify="left")
        for k in r.metrics:
            t.add_column(k, justify="right")
        t.add_row(*["-" if v is None else f"{v:.2f}" for v in r.metrics.values()])
        console.print(t)
    if r.per_class_ap and protocol is None:
        t = Table(title="AP per class (%)", title_justify="left")
        t.add_column("class")
        t.add_column("AP", justify="right")
        for k, v in r.per_class_ap.items():
            t.add_row(k, "-" if v is None else f"{v:.2f}")
        console.print(t)
    t = Table(title="config", title_justify="left")
    t.add_column("key")
    t.add_column("value")
    for k, v in flatten(from_dict(r.config)).items():
        t.add_row(k, json.dumps(v))
    console.print(t)
    if r.error:
        console.print("[bold red]error[/]")
        console.print(r.error, markup=False, highlight=False)


def register(root: typer.Typer) -> None:
    """Add `bench results ...` to the command line."""
    root.add_typer(app, name="results")
