"""Optuna sweeps over any config key: TPE by default, pruned per epoch, resumable, many workers.

A sweep file (``studies/sweeps/NAME.toml``)::

    question = "Which loss weights train SCAC best?"
    recipe = "synth"
    metric = "mAP"                 # validation metric the sampler optimises
    direction = "maximize"
    trials = 30
    holdout = 0.2                  # validation carved from the training split (seeded)
    set = { "train.phases.0.epochs" = 3 }
    [pruner]                       # median (default) | hyperband | threshold | none
    kind = "median"
    [space]
    "loss.alpha" = { type = "float", low = 0.1, high = 4.0, log = true }
    "model.context_ratio" = { type = "categorical", choices = [1.0, 3.0, 5.0] }

Model selection happens on validation, never on test: every trial trains on the training split
minus a seeded ``holdout`` and reports the held-out metric after every epoch, which the pruner
sees. The dataset's own evaluation split is touched once, by :func:`test_best`, for the chosen
configuration. The split is part of the config, hence of every run key. Each trial is a run in
the results store (study ``sweep:NAME``, arm ``trial N``). Re-running continues the same Optuna
study until it holds ``trials`` complete or pruned trials; several processes or hosts may run it
at once on one storage.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from bench.plan import single_run
from bench.queue import alive, open_storage, this_worker
from bench.runs import Pruned, RunContext, RunOutcome, execute, record_spec
from bench.store import Store, masked_url
from bench.studies import apply_layer, find_recipe, recipe_smoke_overrides, studies_dir
from scac.config import ConfigError, RunConfig, load_recipe, read_toml, with_overrides
from scac.engine.train import Callbacks

_KEYS = {
    "question",
    "recipe",
    "metric",
    "direction",
    "trials",
    "holdout",
    "seed",
    "set",
    "pruner",
    "space",
    "smoke",
}
PRUNERS = ("median", "hyperband", "threshold", "none")


class SweepError(ValueError):
    """A sweep that cannot run as asked (the message says how to fix it)."""


@dataclass(frozen=True)
class Param:
    """One search-space dimension over a dotted config key."""

    key: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return trial.suggest_categorical(self.key, list(self.choices))


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file."""

    name: str
    path: Path
    question: str
    recipe: Path
    metric: str
    direction: str
    trials: int
    holdout: float
    seed: int
    overrides: dict[str, Any]
    pruner: dict[str, Any]
    space: tuple[Param, ...]
    smoke: dict[str, Any]

    def space_json(self) -> str:
        return json.dumps([asdict(p) for p in self.space], sort_keys=True)


def _param(key: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict) or spec.get("type") not in ("float", "int", "categorical"):
        raise ConfigError(
            f"{where}: search-space key {key!r} needs type = float, int or categorical"
        )
    unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise ConfigError(
            f"{where}: search-space key {key!r}: unknown field {sorted(unknown)[0]!r}"
        )
    if spec["type"] == "categorical":
        choices = tuple(spec.get("choices", ()))
        if not choices:
            raise ConfigError(
                f"{where}: search-space key {key!r}: categorical needs a non-empty choices list"
            )
        return Param(key, "categorical", choices=choices)
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: search-space key {key!r}: {spec['type']} needs low and high")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if low > high:
        raise ConfigError(f"{where}: search-space key {key!r}: low {low} > high {high}")
    if log and low <= 0:
        raise ConfigError(
            f"{where}: search-space key {key!r}: a log scale needs low > 0, got {low}"
        )
    return Param(key, spec["type"], float(low), float(high), log, spec.get("step"))


def known_sweeps() -> list[str]:
    """Names of the sweep files in ``studies/sweeps``."""
    return sorted(p.stem for p in (studies_dir() / "sweeps").glob("*.toml"))


def load_sweep(name: str) -> Sweep:
    """Read and validate ``studies/sweeps/NAME.toml`` (or a path).

    Raises:
        ConfigError: unknown sweep (known ones listed), unknown keys, a search-space key that is
            not a config key, or a bad distribution (low > high, log with low <= 0...).
    """
    path = Path(name)
    if not (path.suffix == ".toml" and path.is_file()):
        path = studies_dir() / "sweeps" / f"{name}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown sweep {name!r}; known: {', '.join(known_sweeps()) or '(none)'}"
            )
    data = read_toml(path)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    space = tuple(_param(k, v, str(path)) for k, v in data.get("space", {}).items())
    if not space:
        raise ConfigError(f"{path}: the [space] table is empty")
    pruner = dict(data.get("pruner", {"kind": "median"}))
    if pruner.get("kind", "median") not in PRUNERS:
        raise ConfigError(
            f"{path}: pruner kind {pruner.get('kind')!r}; known: {', '.join(PRUNERS)}"
        )
    holdout = data.get("holdout", 0.2)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
        raise ConfigError(
            f"{path}: holdout must be in (0, 1), got {holdout!r}: trials are scored on that "
            f"share of the training images, never on the test split"
        )
    direction = data.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"{path}: direction must be maximize or minimize, got {direction!r}")
    sweep = Sweep(
        name=path.stem,
        path=path,
        question=str(data.get("question", "")),
        recipe=find_recipe(str(data.get("recipe", "synth")), path.parent.parent),
        metric=str(data.get("metric", "mAP")),
        direction=direction,
        trials=int(data.get("trials", 20)),
        holdout=float(holdout),
        seed=int(data.get("seed", 0)),
        overrides=dict(data.get("set", {})),
        pruner=pruner,
        space=space,
        smoke=dict(data.get("smoke", {})),
    )
    base = base_config(sweep, smoke=False)
    for p in space:  # every key must be a config key, with a value of the right type
        try:
            with_overrides(
                base,
                {
                    p.key: p.choices[0]
                    if p.type == "categorical"
                    else (int(p.low) if p.type == "int" else p.low)
                },
            )
        except ConfigError as err:
            raise ConfigError(f"{path}: search space: {err}") from None
    return sweep


def base_config(sweep: Sweep, *, smoke: bool) -> RunConfig:
    """The recipe with the sweep's settings and the validation hold-out applied.

    Layers as a study's (:mod:`bench.studies`): the recipe, its ``[smoke]`` (with ``smoke``),
    the sweep's ``set`` and hold-out, the sweep's ``[smoke].set``; each trial's parameters last.
    """
    cfg = load_recipe(sweep.recipe)
    if smoke:
        cfg = apply_layer(cfg, recipe_smoke_overrides(sweep.recipe), f"{sweep.recipe}: [smoke]")
    layer = {**sweep.overrides, "data.holdout": sweep.holdout}
    cfg = apply_layer(cfg, layer, f"{sweep.path}: set")
    if smoke:
        cfg = apply_layer(cfg, sweep.smoke.get("set", {}), f"{sweep.path}: [smoke].set")
    return cfg


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
        direction=sweep.direction,
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


def _objective(sweep: Sweep, store: Store, base: RunConfig, *, smoke: bool, ctx: RunContext):
    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", this_worker())
        params = {p.key: p.suggest(trial) for p in sweep.space}
        spec = single_run(
            f"sweep:{sweep.name}",
            f"trial {trial.number}",
            with_overrides(base, params),
            smoke=smoke,
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
    objective = _objective(sweep, store, base_config(sweep, smoke=smoke), smoke=smoke, ctx=ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        stop = optuna.study.MaxTrialsCallback(
            target, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        study.optimize(objective, n_trials=remaining, callbacks=[stop], catch=(Exception,))
    return study


def best_config(sweep: Sweep, study: optuna.Study, *, smoke: bool = False) -> tuple[int, RunConfig]:
    """(trial number, config) of the best complete trial, without the validation hold-out."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise SweepError(f"sweep {sweep.name!r} has no complete trial yet")
    best = study.best_trial
    cfg = with_overrides(base_config(sweep, smoke=smoke), {**best.params, "data.holdout": 0.0})
    return best.number, cfg


def test_best(
    sweep: Sweep, store: Store, storage_url: str, ctx: RunContext, *, smoke: bool = False
) -> RunOutcome:
    """Train the chosen configuration on the whole training split and evaluate it, once, on test."""
    study = open_sweep(sweep, storage_url, smoke=smoke, create=False)
    number, cfg = best_config(sweep, study, smoke=smoke)
    spec = single_run(f"sweep:{sweep.name}", f"test (trial {number})", cfg, smoke=smoke)
    record_spec(spec, store)
    return execute(spec, store, ctx, wait=True)
