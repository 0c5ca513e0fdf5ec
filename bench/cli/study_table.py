"""Rich renderings of the toolkit's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from bench.tables.study import StudyTable


def study_table(table: StudyTable) -> Table:
    """Arm x metric, mean ± std over seeds, best mean per column in bold.

    With a reference arm, a last column gives each arm's paired bootstrap 95% interval of the
    difference to it on the first metric (``*`` when the interval excludes 0); when arms name
    their own references, a ``vs`` column says which arm each is compared with.
    """
    from bench.tables.study import mean_std

    summary = table.summary()
    study = table.study
    compared = bool(table.comparisons)
    reference = study.reference if compared else None
    references = {study.reference_of(a) for a in study.arms} - {None}
    lines = []
    if table.runs.variant:
        shown = ", ".join(f"{k}={v}" for k, v in table.runs.overrides.items())
        lines.append(f"variant {table.runs.variant!r}: every run with {shown}")
    lines.append(f"seeds {', '.join(map(str, table.runs.seeds))}")
    if compared and study.paired:
        lines.append(
            "Δ: paired bootstrap 95% interval of the difference to the arm in 'vs' "
            "(images resampled; seed-matched runs pooled); * = excludes 0"
        )
    elif reference:
        lines.append(
            f"Δ: paired bootstrap 95% interval of the difference to {reference!r} "
            f"(images resampled; seed-matched runs pooled); * = excludes 0"
        )
    caption = escape("\n".join(lines))
    t = Table(
        title=escape(f"{table.runs.title()}: {table.study.question}"),
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    t.add_column("arm")
    t.add_column("seeds", justify="right")
    for m in table.metrics:
        t.add_column(m, justify="right")
    if compared and study.paired:
        t.add_column("vs")
    if compared:
        t.add_column(f"Δ{table.metrics[0]} vs ref [95% CI]", justify="right")
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
        t.add_row(escape(str(row["arm"])), str(row["n"]), *cells)
    return t
