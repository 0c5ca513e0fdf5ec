"""A paper's table regenerated: its reported rows, measured rows beside them, best values marked.

:func:`build_table` returns the table as data (:class:`TableView`); ``bench.tables.formats``
renders it as rich, Markdown, LaTeX or CSV. Reported cells keep the paper's printed digits;
measured cells are the mean over seeds (± the standard deviation when there are several).
With ``delta_to`` every other row shows its difference to that row instead of its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from bench.comparisons.paired import INTERVALS, Comparison, compare_many, with_holm
from bench.store import Store
from bench.studies.selection import StudyRuns
from bench.tables.audit import MARKS, row_marks
from bench.tables.measured import MeasuredRow, rows_from_files, rows_from_runs, rows_from_study
from bench.tables.reported import Column, ReportedTable, load, normalize, row_label
from scac.metrics import get_protocol


@dataclass
class Cell:
    """One cell: the number used for ranking (None where empty), and the text shown."""

    value: float | None
    text: str


@dataclass
class Row:
    """One row of a regenerated table.

    Attributes:
        label: the printed method cell (and setting), or the arm / run for a measured row.
        measured: False for a row transcribed from the paper.
        kind: ``value``, or ``gain`` for a printed difference row (never ranked).
        marks: audit marks (``bench.tables.audit.MARKS``) of a reported row.
        protocol: for a measured row, the metric protocol and the data it was measured on.
        seeds: for a measured row, how many seeds its cells average.
        comparison: for a measured row, the paired bootstrap of its difference to the
            reference row (None for the reference row itself or when not computable).
    """

    label: str
    cells: list[Cell]
    measured: bool = False
    kind: str = "value"
    marks: str = ""
    protocol: str = ""
    seeds: int = 0
    comparison: Comparison | None = None


@dataclass
class TableView:
    """A table ready to render.

    Attributes:
        best, second: per column index, the row indices holding the best / second-best value.
        delta_to: the label of the row differences are shown to, if any.
        significance: (metric, reference row label) of the bootstrap column, if any.
        footnotes: lines to print under the table.
    """

    name: str
    title: str
    source: str
    columns: list[Column]
    rows: list[Row]
    best: dict[int, set[int]] = field(default_factory=dict)
    second: dict[int, set[int]] = field(default_factory=dict)
    delta_to: str | None = None
    significance: tuple[str, str] | None = None
    footnotes: list[str] = field(default_factory=list)


def _reported_rows(table: ReportedTable) -> list[Row]:
    marks = row_marks(table)
    rows = []
    for r in table.rows:
        cells = [Cell(r.number(c), r.values.get(c) or "-") for c in table.columns]
        label = row_label(r.printed, r.setting)
        rows.append(Row(label, cells, kind=r.kind, marks=marks.get(r.label, "")))
    return rows


def _measured_row(m: MeasuredRow, columns: list[Column]) -> Row:
    cells = []
    for col in columns:
        mean, std, _ = m.stats(col)
        if math.isnan(mean):
            cells.append(Cell(None, "-"))
        else:
            text = f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"
            cells.append(Cell(mean, text))
    protocol = f"{m.protocol} ({m.dataset})"
    return Row(m.label, cells, measured=True, protocol=protocol, seeds=len(m.runs))


def _rank(view: TableView) -> None:
    for j in range(len(view.columns)):
        ranked = [
            (v, i)
            for i, row in enumerate(view.rows)
            if row.kind == "value" and (v := row.cells[j].value) is not None
        ]
        levels = sorted({round(v, 6) for v, _ in ranked}, reverse=True)
        if levels:
            view.best[j] = {i for v, i in ranked if round(v, 6) == levels[0]}
        if len(levels) > 1:
            view.second[j] = {i for v, i in ranked if round(v, 6) == levels[1]}


def _find(view: TableView, name: str) -> int:
    rows = view.rows
    want = normalize(name)
    hits = [i for i, r in enumerate(rows) if normalize(r.label) == want]
    if not hits:  # a measured run by its key prefix
        hits = [i for i, r in enumerate(rows) if r.measured and r.label.startswith(f"run {name}")]
    if not hits:  # a reported row by its method alone, without citation or setting
        hits = [i for i, r in enumerate(rows) if normalize(r.label).startswith(want + " ")]
    if len(hits) != 1:
        known = "; ".join(r.label for r in rows)
        raise KeyError(f"no single row {name!r} in table {view.name}; rows: {known}")
    return hits[0]


def _signed(x: Decimal | float) -> str:
    return f"+{x}" if x > 0 else (f"{x}" if x < 0 else "0.0")


def _apply_delta(view: TableView, ref: int) -> None:
    base = view.rows[ref]
    for i, row in enumerate(view.rows):
        if i == ref or row.kind != "value":
            continue
        for cell, ref_cell in zip(row.cells, base.cells, strict=True):
            if cell.value is None or ref_cell.value is None:
                cell.text = "-"
            elif not row.measured and not base.measured:  # exact on the printed digits
                cell.text = _signed(Decimal(cell.text) - Decimal(ref_cell.text))
            else:
                cell.text = _signed(round(cell.value - ref_cell.value, 1))
    view.delta_to = base.label


def _significance(
    view: TableView, measured: list[MeasuredRow], reference: str | None, metric: str, ci: str
) -> None:
    first = next(i for i, r in enumerate(view.rows) if r.measured)
    ref = first + [m.label for m in measured].index(reference) if reference else first
    jobs = {
        first + k: (m.runs, measured[ref - first].runs)
        for k, m in enumerate(measured)
        if first + k != ref
    }
    compared = compare_many(jobs, metric=metric, method=ci)
    for i, comparison in with_holm(compared).items():
        view.rows[i].comparison = comparison
    view.significance = (metric, view.rows[ref].label)


def _footnotes(view: TableView, ci: str) -> list[str]:
    notes = []
    used = "".join(r.marks for r in view.rows)
    notes += [f"{mark} {text}" for mark, text in MARKS.items() if mark in used]
    protocols = sorted({r.protocol.split(" ")[0] for r in view.rows if r.measured})
    if protocols:
        cf1 = "; ".join(f"{p}: {_cf1_convention(p)}" for p in protocols)
        notes.append(
            "measured rows: mean ± std over seeds, in percent, under the metric protocol shown "
            f"(CF1 {cf1})"
        )
    if view.delta_to:
        notes.append(f"cells are differences to {view.delta_to!r} (points)")
    if view.significance:
        metric, ref = view.significance
        tested = [r.comparison for r in view.rows if r.comparison and r.comparison.ci]
        holm = f" after Holm's correction over {len(tested)} rows" if len(tested) > 1 else ""
        notes.append(
            f"Δ{metric}: mean of the seed-matched differences to {ref!r}, {INTERVALS[ci]}; "
            f"* = the interval excludes 0{holm}"
        )
        if any(c.ci is not None and not c.ci.seed_variance_known for c in tested):
            notes.append("a row of one seed: run-to-run chance is not measured, so no star")
        reasons = sorted({r.comparison.reason for r in view.rows
                          if r.comparison and r.comparison.ci is None})  # fmt: skip
        if reasons:
            notes.append(f"n/a: {'; '.join(reasons)}")
    return notes


def _cf1_convention(protocol: str) -> str:
    try:
        cf1 = get_protocol(protocol).cf1
    except (KeyError, ValueError):
        return "convention unknown"
    return "= harmonic mean of CP and CR" if cf1 == "harmonic" else "= mean of per-class F1"


def build_table(
    name: str,
    *,
    version: str | None = None,
    store: Store | None = None,
    runs: list[str] | None = None,
    study: StudyRuns | None = None,
    delta_to: str | None = None,
    significance_metric: str = "mAP",
    ci: str = "seeds+images",
    files: dict | None = None,
) -> TableView:
    """Table ``name``'s reported rows, then measured rows from ``runs`` or ``study``.

    Args:
        name: the table (``bench.tables.reported.table_names()``).
        version: the paper version (default: the published one).
        store: the results store the measured rows come from.
        runs: run ids (unique key prefixes), one row each.
        study: a study's selected runs (:func:`bench.studies.selection.study_runs`): one row per
        arm,
            mean ± std over its seeds.
        delta_to: a row (reported or measured) the other rows show their difference to.
        significance_metric: the metric of the interval column for measured rows.
        ci: its interval (``seeds+images``, ``images``, ``two-level``;
        :mod:`bench.comparisons.paired`). files: rows scored from predictions files, ``{label:
        (path, Evaluation)}``: one
            prediction set each, so they carry no interval.

    Raises:
        KeyError: unknown table, version, run id, or ``delta_to`` row (the known ones listed).
        ValueError: a run not finished, or whose classes do not match a per-class table.
    """
    table = load(name, version)
    view = TableView(
        name=table.spec.name,
        title=table.spec.title,
        source=table.source,
        columns=list(table.columns),
        rows=_reported_rows(table),
    )
    measured: list[MeasuredRow] = []
    if (runs or study) and store is None:
        raise ValueError("measured rows need a results store")
    if runs:
        assert store is not None  # refused above
        measured += rows_from_runs(store, runs, table)
    if study is not None:
        measured += rows_from_study(study, table)
    from_files = rows_from_files(files, table) if files else []
    view.rows += [_measured_row(m, view.columns) for m in measured + from_files]
    _rank(view)
    reference = None
    if delta_to is not None:
        ref = _find(view, delta_to)
        if view.rows[ref].label in [m.label for m in measured]:
            reference = view.rows[ref].label
        _apply_delta(view, ref)
    elif study is not None:
        suffix = f" [{study.variant}]" if study.variant else ""
        if f"{study.study.reference}{suffix}" in [m.label for m in measured]:
            reference = f"{study.study.reference}{suffix}"
    if ci not in INTERVALS:
        raise ValueError(f"--ci must be one of {', '.join(INTERVALS)}; got {ci!r}")
    if len(measured) > 1:
        _significance(view, measured, reference, significance_metric, ci)
    view.footnotes = _footnotes(view, ci)
    if from_files:
        view.footnotes.append(
            "rows from predictions files: one prediction set each, scored by bench under the "
            "protocol shown; no interval (bench eval A B compares two files over images)"
        )
    return view
