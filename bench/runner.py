"""Running studies: every arm x seed through ``scac.engine.run_experiment`` into the store.

A finished run (same run key) is skipped; a pending, failed, interrupted or stale ``running`` one
is run again. A run that raises is recorded as failed with its traceback and the study goes on.
Ctrl-C (or SIGTERM) marks the run in progress ``interrupted`` and stops; nothing else is touched.
"""

from __future__ import annotations

import platform
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision

import scac
from bench.progress import Reporter
from bench.store import Store
from bench.studies import RunSpec, Study, expand
from scac.cache import default_cache_dir
from scac.config import to_dict
from scac.engine.run import prepare, resolve_device, run_experiment, run_identity


@dataclass
class RunOutcome:
    """What happened to one requested run."""

    spec: RunSpec
    run_key: str
    status: str  # finished | skipped | failed | interrupted
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass
class StudyOutcome:
    """All runs of one invocation of a study."""

    study: Study
    outcomes: list[RunOutcome]

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def git_commit() -> str | None:
    """The commit of the code that runs, with ``-dirty`` when the tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str]:
    """Versions of what decides the numbers."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scac": scac.__version__,
        "results_version": str(scac.RESULTS_VERSION),
    }


def execute(
    spec: RunSpec,
    run_key: str,
    store: Store,
    *,
    cache_dir: Path,
    device: str,
    reporter: Reporter,
    commit: str | None,
) -> RunOutcome:
    """Run one config into the store; failures are recorded, Ctrl-C is recorded and re-raised."""
    store.start(run_key, git_commit=commit, versions=versions(), device=str(resolve_device(device)))
    start = time.perf_counter()
    try:
        result = run_experiment(
            spec.config,
            artifacts_dir=store.artifacts_dir(run_key),
            cache_dir=cache_dir,
            device=device,
            callbacks=reporter.run_callbacks(spec),
        )
    except KeyboardInterrupt:
        store.fail(
            run_key,
            "interrupted (Ctrl-C or SIGTERM)",
            status="interrupted",
            wall_seconds=time.perf_counter() - start,
        )
        raise
    except Exception:  # noqa: BLE001 - any failure of a run is recorded, the study goes on
        text = traceback.format_exc()
        seconds = time.perf_counter() - start
        store.fail(run_key, text, wall_seconds=seconds)
        return RunOutcome(spec, run_key, "failed", seconds, error=text.strip().splitlines()[-1])
    seconds = time.perf_counter() - start
    store.finish(
        run_key, metrics=result.metrics, per_class_ap=result.per_class_ap, wall_seconds=seconds
    )
    return RunOutcome(spec, run_key, "finished", seconds, metrics=result.metrics)


def run_study(
    study: Study,
    store: Store,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict | None = None,
    device: str = "auto",
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> StudyOutcome:
    """Run every arm x seed of ``study`` that the store does not already hold as finished.

    Args:
        study: the parsed study.
        store: where runs are recorded.
        smoke: tiny data and short phases (the recipe's and study's ``[smoke]``).
        seeds: replace the study's seeds.
        overrides: dotted-key overrides applied to every run.
        device: ``auto``, ``cpu``, ``cuda``...
        cache_dir: datasets and pretrained weights (default ``scac.cache.default_cache_dir()``).
        reporter: progress display.
    """
    cache_dir = cache_dir or default_cache_dir()
    reporter = reporter or Reporter.silent()
    specs = expand(study, smoke=smoke, seeds=seeds, overrides=overrides)
    keys = [run_identity(s.config) for s in specs]
    for spec, key in zip(specs, keys, strict=True):
        store.link(
            study.name,
            spec.arm,
            spec.seed,
            key,
            spec.config.model.name,
            to_dict(spec.config),
            smoke,
        )
    todo = list(
        {
            k: (s, k) for s, k in zip(specs, keys, strict=True) if store.status(k) != "finished"
        }.values()
    )
    outcomes = {k: RunOutcome(s, k, "skipped") for s, k in zip(specs, keys, strict=True)}
    commit = git_commit()
    with reporter.study(study.name, total=len(specs), todo=len(todo)):
        if todo:
            with reporter.preparing():
                prepare(todo[0][0].config, cache_dir)
        done = len(specs) - len(todo)
        for spec, key in todo:
            outcome = execute(
                spec,
                key,
                store,
                cache_dir=cache_dir,
                device=device,
                reporter=reporter,
                commit=commit,
            )
            outcomes[key] = outcome
            done += 1
            reporter.run_finished(done, len(specs), outcome)
    return StudyOutcome(study, [outcomes[k] for k in keys])
