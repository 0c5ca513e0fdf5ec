"""Study tables: arm x metric, mean +- std over seeds, from the records in the store."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from bench.store import Store
from bench.studies import Study


@dataclass
class StudyTable:
    """A study's table as data (rendered by the CLI).

    Attributes:
        study: the study.
        frame: one row per finished run: arm, seed, run_key and one column per metric.
        metrics: the metric columns, in order.
        missing: arms x seeds that have no finished run yet.
    """

    study: Study
    frame: pd.DataFrame
    metrics: list[str]
    missing: list[tuple[str, int]]

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


def study_table(
    study: Study, store: Store, *, smoke: bool = False, seeds: tuple[int, ...] | None = None
) -> StudyTable:
    """Collect the finished runs of ``study`` from ``store``.

    Args:
        study: the study.
        store: the results store.
        smoke: the smoke-size runs instead of the full ones.
        seeds: only these seeds (default: the study's).
    """
    seeds = seeds or (study.smoke_seeds if smoke and study.smoke_seeds else study.seeds)
    rows = [
        r
        for r in store.study_members(study.name)
        if bool(r["smoke"]) == smoke and r["seed"] in seeds
    ]
    arms = {a.name for a in study.arms}
    finished = [r for r in rows if r["status"] == "finished" and r["arm"] in arms]
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
    have = {(r["arm"], r["seed"]) for r in finished}
    missing = [(a.name, s) for a in study.arms for s in seeds if (a.name, s) not in have]
    return StudyTable(study, frame, metrics, missing)
