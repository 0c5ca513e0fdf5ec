"""Rich renderings of the toolkit's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from bench.tables.study import StudyTable


def study_table(table: StudyTable, *, detail: bool = False) -> Table:
    """Arm x metric, mean ± std over seeds, best mean per column in bold.

    With a reference arm, a last column gives each arm's difference to it on the first metric
    with its 95% interval (the caption says which); when arms name their own references, a
    ``vs`` column says which arm each is compared with. ``detail`` adds each seed's difference
    and the probability that the arm beats its reference (over seeds and images).
    """
    from bench.tables.study import mean_std

    summary = table.summary()
    study = table.study
    compared = bool(table.comparisons)
    references = {study.reference_of(a) for a in study.arms} - {None}
    t = Table(
        title=escape(f"{table.runs.title()}: {table.study.question}"),
        title_justify="left",
        caption=escape("\n".join(table.caption())),
        caption_justify="left",
    )
    t.add_column("arm")
    t.add_column("seeds", justify="right")
    for m in table.metrics:
        t.add_column(m, justify="right")
    if compared and study.paired:
        t.add_column("vs")
    if compared:
        t.add_column(table.delta_header(), justify="right")
        if detail:
            t.add_column(f"Δ{table.metrics[0]} per seed", justify="right")
            t.add_column("P(> ref)", justify="right")
    best = {m: summary[f"{m} mean"].max() for m in table.metrics}
    for _, row in summary.iterrows():
        cells = []
        for m in table.metrics:
            text = mean_std(row[f"{m} mean"], row[f"{m} std"])
            cells.append(f"[bold]{text}[/]" if row[f"{m} mean"] == best[m] else text)
        if compared:
            arm = next(a for a in study.arms if a.name == row["arm"])
            ref = study.reference_of(arm)
            comparison = table.comparisons.get(arm.name)
            if study.paired:
                cells.append(escape(ref or ""))
            if comparison:
                cells.append(comparison.text())
            else:
                cells.append("reference" if ref is None and arm.name in references else "-")
            if detail:
                ci = comparison.ci if comparison else None
                cells.append(comparison.per_seed_text() if comparison and ci else "")
                cells.append(f"{ci.p_improve:.2f}" if ci else "")
        t.add_row(escape(str(row["arm"])), str(row["n"]), *cells)
    return t
