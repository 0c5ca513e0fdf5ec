"""``bench audit [TABLE]``: do the papers' reported numbers add up?"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bench.cli.common import console, errors_as_messages
from bench.tables.reported import table_names


def audit(
    name: str = typer.Argument(None, help=f"One table ({', '.join(table_names())}); default all."),
    show_all: bool = typer.Option(
        False, "--all", help="Also list every check that passed, one line each."
    ),
) -> None:
    """Check the papers' reported numbers: do F1, mAP, text and versions add up?

    Checks F1 against the harmonic mean of the printed P and R, per-class means against the
    printed mAP, the text's claims against the tables, paper versions and papers against each
    other. Findings name the table, version, row and numbers; rounding of one printed decimal is
    allowed, no more. The exit code is 0 whatever is found.
    """
    from bench.tables.audit import STATUSES, f1_summary
    from bench.tables.audit import audit as run_audit

    colours = dict(zip(STATUSES, ("green", "yellow", "red", "magenta"), strict=True))
    with errors_as_messages():
        findings = run_audit(name)
        summary = f1_summary(findings)
    shown = [f for f in findings if show_all or f.status != "ok"]
    t = Table(title=f"audit of {name or 'every table'}", title_justify="left", show_lines=False)
    for col in ("table", "version", "row", "check", "status", "finding"):
        t.add_column(col, overflow="fold")
    for f in shown:
        colour = colours[f.status]
        t.add_row(
            f.table + (f" / {f.other}" if f.other else ""),
            f.version,
            escape(f.row),
            f.check,
            f"[{colour}]{f.status}[/]",
            escape(f.message),
        )
    console.print(t)
    for line in summary:
        console.print(escape(line), highlight=False)
    counts = {s: sum(f.status == s for f in findings) for s in colours}
    console.print(
        f"{len(findings)} checks: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    )


def register(root: typer.Typer) -> None:
    """Add `bench audit [TABLE]` to the command line."""
    root.command("audit")(audit)
