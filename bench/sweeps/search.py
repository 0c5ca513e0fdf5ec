"""Optuna sweeps over any config key: TPE by default, pruned per epoch, resumable, many workers.

A sweep file (``studies/sweeps/NAME.toml``) is read and checked by :mod:`bench.sweeps.files`,
whose docstring shows one.

Model selection happens on validation, never on test: every trial trains on the training split
minus a seeded ``holdout`` and reports the held-out metric after every epoch, which the pruner
sees. The dataset's own evaluation split is touched once, by :func:`final_test`, for the chosen
configuration. The split is part of the config, hence of every run key. Each trial is a run in
the results store (study ``sweep:NAME``, arm ``trial N``). Re-running continues the same Optuna
study until it holds ``trials`` complete or pruned trials; several processes or hosts may run it
at once on one storage.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, cast

import optuna
from optuna.trial import TrialState

from bench.runs.claimed import Pruned, RunContext, RunOutcome, execute
from bench.runs.execute import record_spec
from bench.runs.plan import single_run
from bench.runs.queue import alive, open_storage, this_worker
from bench.store import Store, masked_url
from bench.sweeps.files import Sweep, SweepError, base_config
from scac.config import RunConfig, with_overrides
from scac.engine.callbacks import Callbacks


def _pruner(spec: dict[str, Any]) -> optuna.pruners.BasePruner:
    kind = spec.get("kind", "median")
    kw = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "median":
        return optuna.pruners.MedianPruner(**kw)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(**kw)
    if kind == "threshold":
        return optuna.pruners.ThresholdPruner(**kw)
    return optuna.pruners.NopPruner()


def study_name(sweep: Sweep, smoke: bool) -> str:
    """The Optuna study a sweep lives in."""
    return f"bench-sweep:{sweep.name}{':smoke' if smoke else ''}"


def open_sweep(
    sweep: Sweep, storage_url: str, *, smoke: bool = False, create: bool = True
) -> optuna.Study:
    """The sweep's Optuna study; a study of the same name over another space is refused."""
    storage = open_storage(storage_url)
    name = study_name(sweep, smoke)
    if not create:
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise SweepError(
                f"no sweep {sweep.name!r} in {masked_url(storage_url)}: "
                f"run `bench sweep {sweep.name}` first"
            ) from None
    # a resumed (or second) process must not replay the first one's random draws: its sampler's
    # seed moves on with the number of trials already in the study (a fresh sweep uses the seed)
    try:
        existing = len(
            optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        )
    except KeyError:
        existing = 0
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction=cast(Literal["minimize", "maximize"], sweep.direction),
        sampler=optuna.samplers.TPESampler(seed=sweep.seed + 1000 * existing),
        pruner=_pruner(sweep.pruner),
    )
    recorded = study.user_attrs.get("space")
    if recorded is None:
        study.set_user_attr("space", sweep.space_json())
        study.set_user_attr("metric", sweep.metric)
    elif recorded != sweep.space_json():
        raise SweepError(
            f"sweep {sweep.name!r} already exists in {masked_url(storage_url)} with another search "
            f"space; to start a new one, copy the sweep file under a new name "
            f"(studies/sweeps/NEW.toml) or use another --storage"
        )
    return study


def _reap(study: optuna.Study, storage_url: str, store: Store) -> None:
    """Fail the RUNNING trials of sweep processes that died on this host; their runs, left
    ``running`` under a dead owner, are marked interrupted."""
    storage = open_storage(storage_url)
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker and alive(worker) is False:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            key = t.user_attrs.get("run_key")
            if key:
                store.release_stale(key)


class _Reporting(Callbacks):
    """Hands each epoch's validation metric to the trial; the pruner may stop the run."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial, self.metric = trial, metric

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        value = metrics.get(self.metric, math.nan)
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {step}: {self.metric} {value:.2f}")


def _trial_runner(sweep: Sweep, store: Store, base: RunConfig, *, smoke: bool, ctx: RunContext):
    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", this_worker())
        params = {p.key: p.suggest(trial) for p in sweep.space}
        spec = single_run(
            f"sweep:{sweep.name}",
            f"trial {trial.number}",
            with_overrides(base, params),
            smoke=smoke,
            device=ctx.device,
        )
        trial.set_user_attr("run_key", spec.key)
        record_spec(spec, store)
        outcome = execute(
            spec, store, ctx, callbacks=_Reporting(trial, sweep.metric), validate_every_epoch=True,
            wait=True,
        )  # fmt: skip
        if outcome.status == "pruned":
            ctx.reporter.line(f"sweep {sweep.name} | trial {trial.number}: {outcome.error}")
            raise optuna.TrialPruned(outcome.error)
        if not outcome.ok:
            raise RuntimeError(f"trial {trial.number} (run {spec.key}): {outcome.error}")
        value = float(outcome.metrics.get(sweep.metric, math.nan))
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        ctx.reporter.line(
            f"sweep {sweep.name} | trial {trial.number}: {sweep.metric} {value:.2f} | {shown}"
        )
        return value

    return objective


def done_trials(study: optuna.Study) -> int:
    """Trials that count towards the target: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_sweep(
    sweep: Sweep,
    store: Store,
    storage_url: str,
    ctx: RunContext,
    *,
    trials: int | None = None,
    smoke: bool = False,
) -> optuna.Study:
    """Run trials until the sweep's Optuna study holds ``trials`` complete or pruned ones.

    Args:
        sweep: the parsed sweep.
        store: results store for the trials' runs.
        storage_url: Optuna storage (journal file path or RDB URL) shared by all its workers.
        ctx: how to run the trials (device, cache, progress).
        trials: target number of complete + pruned trials (default: the file's).
        smoke: the recipe's and the sweep's smoke settings (tiny data).
    """
    target = trials or int(sweep.smoke.get("trials", sweep.trials) if smoke else sweep.trials)
    study = open_sweep(sweep, storage_url, smoke=smoke)
    _reap(study, storage_url, store)
    remaining = target - done_trials(study)
    if remaining <= 0:
        return study
    run_trial = _trial_runner(sweep, store, base_config(sweep, smoke=smoke), smoke=smoke, ctx=ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        stop = optuna.study.MaxTrialsCallback(
            target, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        study.optimize(run_trial, n_trials=remaining, callbacks=[stop], catch=(Exception,))
    return study


def best_config(sweep: Sweep, study: optuna.Study, *, smoke: bool = False) -> tuple[int, RunConfig]:
    """(trial number, config) of the best complete trial, without the validation hold-out."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise SweepError(f"sweep {sweep.name!r} has no complete trial yet")
    best = study.best_trial
    cfg = with_overrides(base_config(sweep, smoke=smoke), {**best.params, "data.holdout": 0.0})
    return best.number, cfg


def final_test(
    sweep: Sweep, store: Store, storage_url: str, ctx: RunContext, *, smoke: bool = False
) -> RunOutcome:
    """Train the chosen configuration on the whole training split and evaluate it, once, on test."""
    study = open_sweep(sweep, storage_url, smoke=smoke, create=False)
    number, cfg = best_config(sweep, study, smoke=smoke)
    spec = single_run(
        f"sweep:{sweep.name}", f"test (trial {number})", cfg, smoke=smoke, device=ctx.device
    )
    record_spec(spec, store)
    return execute(spec, store, ctx, wait=True)
