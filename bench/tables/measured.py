"""Measured rows: runs from the results store, mapped onto a paper's columns.

A run records our metric names (``mAP``, ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1``, and
``<name>_top3`` for the top-3 variants) and AP per class by class name. The papers print the
same quantities under other headers (``F1-C``, ``P-O``...); :func:`metric_for` is the one
place that translates. A study arm becomes one row, mean and standard deviation over its seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.store import RunRecord, Store
from bench.studies.selection import StudyRuns
from bench.tables.reported import Column, ReportedTable

if TYPE_CHECKING:
    from scac.metrics.evaluation import Evaluation

# printed header -> our metric name
METRICS = {
    "mAP": "mAP",
    "F1-C": "CF1",
    "CF1": "CF1",
    "P-C": "CP",
    "CP": "CP",
    "R-C": "CR",
    "CR": "CR",
    "F1-O": "OF1",
    "OF1": "OF1",
    "P-O": "OP",
    "OP": "OP",
    "R-O": "OR",
    "OR": "OR",
}
TOP3_GROUPS = ("top-3", "Top-3")
# printed class name -> the dataset's class name (SCAC Table 2 prints "areoplane")
CLASS_ALIASES = {"areoplane": "aeroplane"}


def metric_for(column: Column) -> str | None:
    """Our metric name for a printed column; None for a per-class AP column."""
    name = METRICS.get(column.metric)
    if name is None:
        return None
    return f"{name}_top3" if column.group in TOP3_GROUPS else name


def class_for(column: Column) -> str:
    """The dataset's class name for a printed per-class column."""
    return CLASS_ALIASES.get(column.metric, column.metric)


def _dropped_percent(column: Column) -> int | None:
    """LC Table 5's columns are shares of training labels dropped: ``"30%"`` -> 30."""
    text = column.group
    return int(text[:-1]) if text.endswith("%") and text[:-1].isdigit() else None


def run_value(run: RunRecord | FileResult, column: Column) -> float | None:
    """A finished run's value for a printed column (None if the run has no such number)."""
    dropped = _dropped_percent(column)
    if dropped is not None:
        share = float(run.config.get("data", {}).get("drop_labels", 0.0))
        if round(100 * share) != dropped:
            return None
    metric = metric_for(column)
    source = run.metrics if metric is not None else run.per_class_ap
    value = (source or {}).get(metric if metric is not None else class_for(column))
    return None if value is None or not math.isfinite(value) else float(value)


def check_classes(run: RunRecord | FileResult, table: ReportedTable | None) -> None:
    """A per-class table needs a run with exactly its classes (no table: nothing to check).

    Raises:
        ValueError: the run's class list differs; the message names both lists' differences.
    """
    if table is None or not table.spec.per_class:
        return
    want = [class_for(c) for c in table.columns if metric_for(c) is None]
    have = list(run.per_class_ap or {})
    if set(want) != set(have):
        missing = [c for c in want if c not in have]
        extra = [c for c in have if c not in want]
        who = f"run {run.run_key[:10]}" if isinstance(run, RunRecord) else run.run_key
        raise ValueError(
            f"{who} has classes {', '.join(have) or '(none)'}, but table "
            f"{table.spec.name} is per class over {len(want)} classes; missing: "
            f"{', '.join(missing[:6])}{'...' if len(missing) > 6 else ''}; "
            f"not in the table: {', '.join(extra[:6]) or '-'}"
        )


@dataclass
class MeasuredRow:
    """A row measured by the toolkit: one run, or one study arm over its seeds.

    Attributes:
        label: the arm name, or ``run KEY`` for a single run.
        runs: the finished runs, one per seed.
        seeds: their seeds (None for a run outside any study).
        protocol: the metric protocol the runs were scored with (store column ``protocol``).
        dataset: the data format of the runs (``synth``, ``coco``...).
    """

    label: str
    runs: Sequence[RunRecord | FileResult]  # a predictions file: one FileResult
    seeds: list[int | None]
    protocol: str
    dataset: str

    def stats(self, column: Column) -> tuple[float, float, int]:
        """(mean, std over seeds or NaN, n) of a column; mean NaN when no run has it."""
        vals = [v for v in (run_value(r, column) for r in self.runs) if v is not None]
        if not vals:
            return math.nan, math.nan, 0
        std = statistics.stdev(vals) if len(vals) > 1 else math.nan
        return statistics.fmean(vals), std, len(vals)


def _describe(runs: list[RunRecord]) -> tuple[str, str]:
    protocols = sorted({r.protocol or "default" for r in runs})
    datasets = sorted({str(r.config.get("data", {}).get("format", "?")) for r in runs})
    return "+".join(protocols), "+".join(datasets)


def rows_from_runs(store: Store, run_ids: list[str], table: ReportedTable) -> list[MeasuredRow]:
    """One row per run id (a unique key prefix is enough).

    Raises:
        KeyError: a run id not in the store.
        ValueError: a run that has not finished, or whose classes do not match a per-class table.
    """
    rows = []
    for run_id in run_ids:
        run = store.get(run_id)
        if run.status != "finished":
            raise ValueError(f"run {run.run_key[:10]} is {run.status}, not finished")
        check_classes(run, table)
        protocol, dataset = _describe([run])
        rows.append(MeasuredRow(f"run {run.run_key[:10]}", [run], [None], protocol, dataset))
    return rows


def rows_from_study(selected: StudyRuns, table: ReportedTable | None) -> list[MeasuredRow]:
    """One row per arm of a study selection (file order) over its selected seeds.

    ``table``, when given, is the table the rows are for (its classes are checked). A variant's
    rows are labelled ``arm [variant]``.

    Raises:
        ValueError: the selection holds no finished run, or a run's classes do not match a
            per-class table.
    """
    if not selected.finished:
        raise ValueError(selected.nothing_finished())
    rows = []
    suffix = f" [{selected.variant}]" if selected.variant else ""
    for arm in selected.study.arms:
        runs = selected.records(arm.name)
        if not runs:
            continue
        for run in runs:
            check_classes(run, table)
        protocol, dataset = _describe(runs)
        seeds: list[int | None] = [int(r.config["seed"]) for r in runs]
        rows.append(MeasuredRow(arm.name + suffix, runs, seeds, protocol, dataset))
    return rows


@dataclass
class FileResult:
    """A predictions file's scores, shaped like the parts of a run a table reads."""

    run_key: str
    metrics: dict[str, float]
    per_class_ap: dict[str, float]
    protocol: str
    config: dict


def rows_from_files(
    files: dict[str, tuple[str, Evaluation]], table: ReportedTable | None
) -> list[MeasuredRow]:
    """One row per predictions file: ``{label: (path, Evaluation)}`` (see
    :func:`scac.metrics.evaluate_predictions`); the data column says ``file``.

    Raises:
        ValueError: a file whose classes do not match a per-class table.
    """
    rows = []
    for label, (path, ev) in files.items():
        result = FileResult(path, ev.metrics, ev.per_class_ap, ev.protocol.name, {})
        check_classes(result, table)
        rows.append(MeasuredRow(label, [result], [None], ev.protocol.name, "file"))
    return rows
