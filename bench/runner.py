"""Running studies: every arm x seed through ``scac.engine.run_experiment`` into the store.

A finished run (same run key) is skipped; a pending, failed, interrupted or stale ``running`` one
is run again. A run that raises is recorded as failed with its traceback and the study goes on.
Ctrl-C (or SIGTERM) marks the run in progress ``interrupted`` and stops; nothing else is touched.
"""

from __future__ import annotations

import os
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
from bench.studies import RunSpec, Study, expand, find_recipe, studies_dir
from scac.cache import default_cache_dir
from scac.config import ConfigError, load_recipe, to_dict, with_overrides
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
    store: Store | None,
    *,
    cache_dir: Path,
    device: str,
    reporter: Reporter,
    commit: str | None,
    num_workers: int = 0,
    resume: bool = True,
    feature_cache: bool = True,
) -> RunOutcome:
    """Run one config into the store; failures are recorded, Ctrl-C is recorded and re-raised.

    Args:
        spec: the run.
        run_key: its identity in the store.
        store: the results store; None on the non-zero ranks of a torchrun job (they train and
            evaluate, rank 0 writes).
        cache_dir: datasets and pretrained weights.
        device: ``auto``, ``cpu``, ``cuda``...
        reporter: progress display.
        commit: the code's git commit.
        num_workers: DataLoader workers.
        resume: continue from the run's epoch checkpoint when an earlier attempt left one.
        feature_cache: train frozen phases from cached features (:func:`feature_cache_dir`).
    """
    if store is not None:
        store.start(
            run_key, git_commit=commit, versions=versions(), device=str(resolve_device(device))
        )
    artifacts = store.artifacts_dir(run_key) if store is not None else shared_artifacts_dir(run_key)
    start = time.perf_counter()
    try:
        result = run_experiment(
            spec.config,
            artifacts_dir=artifacts,
            cache_dir=cache_dir,
            device=device,
            num_workers=num_workers,
            callbacks=reporter.run_callbacks(spec),
            resume=resume,
            feature_cache=feature_cache_dir(store) if feature_cache and store else None,
            feature_cache_progress=reporter.cache_progress,
        )
    except KeyboardInterrupt:
        if store is not None:
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
        if store is not None:
            store.fail(run_key, text, wall_seconds=seconds)
        return RunOutcome(spec, run_key, "failed", seconds, error=text.strip().splitlines()[-1])
    seconds = time.perf_counter() - start
    if store is not None:
        details = {
            "skipped_images": result.skipped_images,
            "world_size": result.world_size,
            "train_seconds": result.train_seconds,
            "eval_seconds": result.eval_seconds,
            "steps": result.log.steps,
            "images_seen": result.log.images,
        }
        store.finish(
            run_key,
            metrics=result.metrics,
            per_class_ap=result.per_class_ap,
            wall_seconds=seconds,
            details=details,
        )
    return RunOutcome(spec, run_key, "finished", seconds, metrics=result.metrics)


def feature_cache_dir(store: Store) -> Path:
    """The frozen-feature cache beside the store (``feature-cache/`` next to ``runs/``)."""
    return Store.artifacts_root_for(store.url).parent / "feature-cache"


def shared_artifacts_dir(run_key: str) -> Path:
    """Where a non-zero torchrun rank finds the run's artifacts (rank 0's store says the same)."""
    return Store.artifacts_root_for(os.environ.get("BENCH_STORE")) / run_key


def train_recipe(
    recipe: str,
    store: Store | None,
    *,
    data: str | None = None,
    overrides: dict | None = None,
    resume: bool = False,
    device: str = "auto",
    num_workers: int = 0,
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
    feature_cache: bool = True,
) -> RunOutcome:
    """One run of a recipe into the store (``bench train``); finished runs are not redone.

    Args:
        recipe: recipe name (``studies/recipes/NAME.toml``) or path.
        store: the results store (None on non-zero torchrun ranks).
        data: dataset folder, sets ``data.root``.
        overrides: dotted-key overrides.
        resume: continue from the last epoch checkpoint of this run, if any.
        device: ``auto``, ``cpu``, ``cuda``...
        num_workers: DataLoader workers.
        cache_dir: datasets and pretrained weights (default ``scac.cache.default_cache_dir()``).
        reporter: progress display.
    """
    path = find_recipe(recipe, studies_dir())
    layers = {
        **({"data.root": str(Path(data).expanduser().resolve())} if data else {}),
        **(overrides or {}),
    }
    try:
        cfg = with_overrides(load_recipe(path), layers)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    spec = RunSpec(study="bench train", arm=path.stem, seed=cfg.seed, config=cfg, smoke=False)
    key = run_identity(cfg)
    reporter = reporter or Reporter.silent()
    if store is not None:
        store.link(spec.study, spec.arm, spec.seed, key, cfg.model.name, to_dict(cfg))
        if store.status(key) == "finished":
            outcome = RunOutcome(spec, key, "skipped")
            reporter.run_finished(1, 1, outcome)
            return outcome
    with reporter.study(f"train {path.stem}", total=1, todo=1):
        outcome = execute(
            spec,
            key,
            store,
            cache_dir=cache_dir or default_cache_dir(),
            device=device,
            reporter=reporter,
            commit=git_commit(),
            num_workers=num_workers,
            resume=resume,
            feature_cache=feature_cache,
        )
        reporter.run_finished(1, 1, outcome)
    return outcome


def link_runs(
    study: Study,
    store: Store,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict | None = None,
) -> list[tuple[RunSpec, str]]:
    """Expand ``study`` into its runs and record each (study, arm, seed) -> run key in the store.

    Returns:
        (run spec, run key) for every arm x seed, in the study's order.
    """
    runs = []
    for spec in expand(study, smoke=smoke, seeds=seeds, overrides=overrides):
        key = run_identity(spec.config)
        store.link(
            study.name,
            spec.arm,
            spec.seed,
            key,
            spec.config.model.name,
            to_dict(spec.config),
            smoke,
        )
        runs.append((spec, key))
    return runs


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
    feature_cache: bool = True,
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
    runs = link_runs(study, store, smoke=smoke, seeds=seeds, overrides=overrides)
    specs = [s for s, _ in runs]
    # one execution per run key: two arms may resolve to the same config
    todo = list({k: (s, k) for s, k in runs if store.status(k) != "finished"}.values())
    outcomes = {k: RunOutcome(s, k, "skipped") for s, k in runs}
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
                feature_cache=feature_cache,
            )
            outcomes[key] = outcome
            done += 1
            reporter.run_finished(done, len(specs), outcome)
    return StudyOutcome(study, [outcomes[k] for _, k in runs])
