"""Study tables: arm x metric, mean +- std over seeds, from a study's selected runs.

Each arm is also compared with its reference arm (the study's, or one the arm names), seed by
seed, with an interval that counts run-to-run chance as well as the test images'
(:func:`bench.comparisons.paired.compare_many`); the stars of a study's arms are corrected for
their number (Holm). The caption, one text for the terminal and the HTML report, says which
interval it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from bench.comparisons.cache import FOLDER as COMPARISONS
from bench.comparisons.paired import INTERVALS, Comparison, compare_many, with_holm
from bench.studies.files import Study
from bench.studies.selection import StudyRuns


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
        comparisons: arm -> the arm against its reference arm (``Study.reference_of``) on
            the first metric, stars Holm-corrected over the study's arms (empty when no arm
            has a reference).
        ci: the interval the comparisons use (``seeds+images``, ``images``, ``two-level``).
    """

    study: Study
    runs: StudyRuns
    frame: pd.DataFrame
    metrics: list[str]
    missing: list[tuple[str, int]]
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    ci: str = "seeds+images"

    def rows(self, detail: bool = False) -> list[list[str]]:
        """The table as text cells, header first (Markdown and CSV renderings): arm, seeds,
        mean ± std per metric, then (with comparisons) vs, Δ [interval], and with ``detail``
        each seed's difference and P(> ref). The best mean of a column is marked ``**``."""
        summary, study = self.summary(), self.study
        compared = bool(self.comparisons)
        references = {study.reference_of(a) for a in study.arms} - {None}
        head = ["arm", "seeds", *self.metrics]
        if compared:
            head += ["vs"] * study.paired + [self.delta_header()]
            head += [f"Δ{self.metrics[0]} per seed", "P(> ref)"] * detail
        best = {m: summary[f"{m} mean"].max() for m in self.metrics}
        out = [head]
        for _, row in summary.iterrows():
            cells = [str(row["arm"]), str(row["n"])]
            for m in self.metrics:
                text = mean_std(row[f"{m} mean"], row[f"{m} std"])
                cells.append(f"**{text}**" if row[f"{m} mean"] == best[m] else text)
            if compared:
                arm = next(a for a in study.arms if a.name == row["arm"])
                ref = study.reference_of(arm)
                c = self.comparisons.get(arm.name)
                cells += [ref or ""] * study.paired
                cells.append(c.text() if c else ("reference" if arm.name in references else "-"))
                if detail:
                    cells += (
                        [c.per_seed_text(), f"{c.ci.p_improve:.2f}"] if c and c.ci else ["", ""]
                    )
            out.append(cells)
        return out

    def markdown(self, detail: bool = False) -> str:
        """A Markdown table (as the README's and docs' tables), then its caption."""
        rows = self.rows(detail)
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines) + "\n\n" + "\n".join(self.caption()) + "\n"

    def caption_interval(self) -> str:
        """The interval, in words (``95% interval over seeds and images ...``)."""
        return INTERVALS[self.ci]

    def delta_header(self) -> str:
        """The Δ column's title."""
        return f"Δ{self.metrics[0]} vs ref [95% CI]"

    def caption(self) -> list[str]:
        """What the table shows beyond its cells: variant, seeds, the interval, what is missing."""
        runs, study = self.runs, self.study
        lines = []
        if runs.variant:
            shown = ", ".join(f"{k}={v}" for k, v in runs.overrides.items())
            lines.append(f"variant {runs.variant!r}: every run with {shown}")
        lines.append(f"seeds {', '.join(map(str, runs.seeds))}")
        if self.comparisons:
            versus = "the arm in 'vs'" if study.paired else repr(study.reference)
            tested = [c for c in self.comparisons.values() if c.ci is not None]
            lines.append(
                f"Δ: mean of the seed-matched differences to {versus}, {INTERVALS[self.ci]}; "
                f"* = excludes 0"
                + (
                    f" after Holm's correction over {len(tested)} comparisons"
                    if len(tested) > 1
                    else ""
                )  # fmt: skip
            )
            if any(c.ci is not None and not c.ci.seed_variance_known for c in tested):
                lines.append("one seed: run-to-run chance is not measured, so no star")
            lines += _seed_notes(self.comparisons)
            reasons = sorted({c.reason for c in self.comparisons.values() if c.ci is None})
            if reasons:  # e.g. a store copied without its runs/ folder: say why, not just n/a
                lines.append(f"n/a: {'; '.join(reasons)}")
        if self.missing:
            missing = ", ".join(f"{arm} seed {seed}" for arm, seed in self.missing)
            lines.append(f"not finished yet: {missing}")
        return lines

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


def study_table(runs: StudyRuns, *, ci: str = "seeds+images") -> StudyTable:
    """The table of a study's selected runs (:func:`bench.studies.selection.study_runs`).

    Args:
        runs: the selection.
        ci: the interval of the Δ column (``seeds+images``; ``images`` for the image-only one).
    """
    if ci not in INTERVALS:
        raise ValueError(f"--ci must be one of {', '.join(INTERVALS)}; got {ci!r}")
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
    comparisons = _compare_arms(runs, metrics, ci)
    return StudyTable(study, runs, frame, metrics, runs.missing, comparisons, ci)


def _seed_notes(comparisons: dict[str, Comparison]) -> list[str]:
    """Lines on arms whose seeds disagree in sign, arms Holm's correction took the star from,
    and the seeds an arm without one would need at the variance measured."""
    from scac.metrics.variance import seeds_needed

    disagree = [n for n, c in comparisons.items() if c.ci is not None and c.ci.seeds_disagree]
    lines = [f"seeds disagree in sign: {', '.join(disagree)}"] if disagree else []
    corrected = [
        n for n, c in comparisons.items()
        if c.ci is not None and c.ci.excludes_zero and not c.star and c.ci.seed_variance_known
    ]  # fmt: skip
    if corrected:
        lines.append(f"the interval excludes 0, but not after Holm's correction: "
                     f"{', '.join(corrected)}")  # fmt: skip
    needs = []
    for name, c in comparisons.items():
        if c.ci is None or c.ci.excludes_zero or len(c.ci.per_seed) < 2:
            continue
        k = seeds_needed(c.ci.per_seed, c.ci.image_variance, c.ci.delta)
        needs.append(f"{name} {k}" if k else f"{name} more than 100")
    if needs:
        lines.append(
            "seeds for the interval to exclude 0 if Δ held, at the variance measured "
            "(before Holm's correction): " + "; ".join(needs)
        )
    return lines


def _compare_arms(runs: StudyRuns, metrics: list[str], ci: str) -> dict[str, Comparison]:
    if not metrics:
        return {}
    jobs = {}
    cache = runs.artifacts_root / COMPARISONS if runs.artifacts_root is not None else None
    for arm in runs.study.arms:
        ref = runs.study.reference_of(arm)
        if ref is None:
            continue
        records, reference = runs.records(arm.name), runs.records(ref)
        if records and reference:
            jobs[arm.name] = (records, reference)
    return with_holm(compare_many(jobs, metric=metrics[0], method=ci, cache=cache))
