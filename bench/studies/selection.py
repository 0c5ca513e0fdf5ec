"""The runs of a study: one answer to "which runs does this table show", for every reader.

The printed study table, ``bench table --study``, ``bench plot study``, ``bench results list
--study`` and the exit code of ``bench run study`` all ask :func:`study_runs`: the members of
one study, one variant (the plain study by default), one size (smoke or not) and the study's
seeds (or the ones asked for), arms in the study file's order.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bench.store import RunRecord, Store
from bench.studies.files import Study, study_seeds


def as_record(row: dict[str, Any]) -> RunRecord:
    """A run row (as :meth:`Store.list_runs` gives) as a :class:`RunRecord`."""
    return RunRecord(**{f.name: row[f.name] for f in fields(RunRecord)})


@dataclass
class StudyRuns:
    """The members of one study variant, arm x seed, with their runs' records.

    Attributes:
        study: the study.
        variant: the variant (``""``: the plain study).
        overrides: the variant's overrides (empty for the plain study).
        smoke: smoke size.
        seeds: the seeds selected.
        rows: one row per member (arm of the study, selected seed): the run's columns plus
            ``arm``, ``seed`` and ``state``, in the study's arm order, then by seed.
        artifacts_root: the store's folder of run artifacts (comparisons are kept there).
        store: the store it was selected from.
    """

    study: Study
    variant: str
    overrides: dict[str, Any]
    smoke: bool
    seeds: tuple[int, ...]
    rows: list[dict[str, Any]]
    artifacts_root: Path | None = None
    store: Store | None = None

    @property
    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["state"] == "finished"]

    @property
    def missing(self) -> list[tuple[str, int]]:
        """(arm, seed) pairs without a finished run."""
        have = {(r["arm"], r["seed"]) for r in self.finished}
        return [(a.name, s) for a in self.study.arms for s in self.seeds if (a.name, s) not in have]

    def records(self, arm: str) -> list[RunRecord]:
        """The finished runs of one arm, by seed."""
        return [as_record(r) for r in self.finished if r["arm"] == arm]

    def title(self) -> str:
        """``study``, with ``[variant]`` and ``(smoke)`` when they apply."""
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.study.name}{variant}{' (smoke)' if self.smoke else ''}"

    def nothing_finished(self) -> str:
        """Why this selection holds no finished run, and what to try: the other size, other
        seeds or another variant that the store does hold, else the command that makes them."""
        members = _members(self.store, self.study.name, self.variant) if self.store else []
        sizes = {bool(r["smoke"]) for r in members if r["state"] == "finished"}
        same_size = [r for r in members if r["state"] == "finished" and r["smoke"] == self.smoke]
        seeds = sorted({r["seed"] for r in same_size})
        shown = f" in store {self.store.display}" if self.store else ""
        where = f"no finished run of study {self.title()}{shown} for seeds "
        where += ", ".join(map(str, self.seeds))
        if (not self.smoke) in sizes:
            return f"{where}; it holds finished {'full-size' if self.smoke else 'smoke'} runs: " + (
                "leave out --smoke" if self.smoke else "add --smoke"
            )
        if seeds:
            held = ", ".join(map(str, seeds))
            return f"{where}; it holds finished runs of seeds {held}: --seeds {held}"
        size = " --smoke" if self.smoke else ""
        variant = f" --set ... --variant {self.variant!r}" if self.variant else ""
        return f"{where}; run `bench run study {self.study.name}{size}{variant}` first"


def study_runs(
    store: Store,
    study: Study,
    *,
    variant: str = "",
    seeds: tuple[int, ...] | None = None,
    smoke: bool = False,
) -> StudyRuns:
    """The members of ``study`` (one variant, one size, the selected seeds) and their runs.

    Args:
        store: the results store.
        study: the study.
        variant: its variant (``""``: the plain study).
        seeds: the seeds (default: the study's, or its smoke seeds with ``smoke``).
        smoke: the smoke-size runs.

    Raises:
        ValueError: a variant the store does not know (its variants are listed).
    """
    seeds = tuple(seeds or study_seeds(study, smoke))
    known = store.variant_overrides(study.name)
    if variant and variant not in known:
        listed = ", ".join(repr(v) for v in sorted(known)) or "none"
        raise ValueError(
            f"study {study.name!r} has no variant {variant!r} in store {store.display} "
            f"(its variants: {listed})"
        )
    order = {a.name: i for i, a in enumerate(study.arms)}
    rows = [
        r
        for r in _members(store, study.name, variant)
        if bool(r["smoke"]) == smoke and r["seed"] in seeds and r["arm"] in order
    ]
    rows.sort(key=lambda r: (order[r["arm"]], r["seed"]))
    return StudyRuns(
        study, variant, known.get(variant, {}), smoke, seeds, rows, store.artifacts_root, store
    )


def _members(store: Store, study: str, variant: str) -> list[dict[str, Any]]:
    try:
        return store.list_runs(study=study, variant=variant)
    except ValueError:  # the store holds no member of it yet: an empty selection
        return []
