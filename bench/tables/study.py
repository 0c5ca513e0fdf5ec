"""Study tables: arm x metric, mean +- std over seeds, from a study's selected runs.

Each arm is also compared with its reference arm (the study's, or one the arm names) by a
paired bootstrap over images
(:func:`bench.compare.compare_runs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.compare import Comparison, compare_runs
from bench.comparison_cache import FOLDER as COMPARISONS
from bench.selection import StudyRuns
from bench.studies import Study


def mean_std(mean: float, std: float) -> str:
    """A study table's cell: ``mean ± std`` with one decimal (std left out for one seed; ``-``
    for no value). The terminal and the HTML report print the same text."""
    if math.isnan(mean):
        return "-"
    return f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"


@dataclass
class StudyTable:
    """A study's table as data (rendered by the CLI).

    Attributes:
        study: the study.
        runs: the selection it shows (variant, size, seeds).
        frame: one row per finished run: arm, seed, run_key and one column per metric.
        metrics: the metric columns, in order.
        missing: arms x seeds that have no finished run yet.
        comparisons: arm -> paired bootstrap of the arm against its reference arm
            (``Study.reference_of``) on the first metric (empty when no arm has one).
    """

    study: Study
    runs: StudyRuns
    frame: pd.DataFrame
    metrics: list[str]
    missing: list[tuple[str, int]]
    comparisons: dict[str, Comparison] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per arm (file order): n runs, then mean and std of each metric over seeds."""
        order = [a.name for a in self.study.arms]
        rows = []
        for arm in order:
            sub = self.frame[self.frame["arm"] == arm]
            row: dict[str, object] = {"arm": arm, "n": len(sub)}
            for m in self.metrics:
                vals = sub[m].dropna() if m in sub else pd.Series(dtype=float)
                row[f"{m} mean"] = float(vals.mean()) if len(vals) else math.nan
                row[f"{m} std"] = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
            rows.append(row)
        return pd.DataFrame(rows)


def study_table(runs: StudyRuns) -> StudyTable:
    """The table of a study's selected runs (:func:`bench.selection.study_runs`)."""
    study = runs.study
    finished = runs.finished
    metrics = list(study.metrics)
    frame = pd.DataFrame(
        [
            {
                "arm": r["arm"],
                "seed": r["seed"],
                "run_key": r["run_key"],
                **{m: (r["metrics"] or {}).get(m) for m in metrics},
            }
            for r in finished
        ],
        columns=["arm", "seed", "run_key", *metrics],
    )
    for m in metrics:
        frame[m] = pd.to_numeric(frame[m], errors="coerce")
    return StudyTable(study, runs, frame, metrics, runs.missing, _compare_arms(runs, metrics))


def _compare_arms(runs: StudyRuns, metrics: list[str]) -> dict[str, Comparison]:
    if not metrics:
        return {}
    out = {}
    cache = runs.artifacts_root / COMPARISONS if runs.artifacts_root is not None else None
    for arm in runs.study.arms:
        ref = runs.study.reference_of(arm)
        if ref is None:
            continue
        records, reference = runs.records(arm.name), runs.records(ref)
        if records and reference:
            out[arm.name] = compare_runs(records, reference, metric=metrics[0], cache=cache)
    return out
