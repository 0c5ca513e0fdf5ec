"""Sweep files: a question, a base recipe, a search space over config keys, a metric to optimise.

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

Every search-space key must be a config key taking a value of its type; ``holdout`` must be in
(0, 1), since trials are scored on that share of the training split, never on the test split.
The sweeps themselves run in :mod:`bench.sweeps.search`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna

from bench.studies.files import (
    apply_layer,
    find_file,
    find_recipe,
    known_files,
    recipe_smoke_overrides,
)
from scac.config import ConfigError, RunConfig, load_recipe, read_toml, with_overrides

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
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        low, high = self.low, self.high
        assert low is not None and high is not None, "a numeric range is checked when read"
        if self.type == "float":
            return trial.suggest_float(self.key, low, high, log=self.log, step=self.step)
        return trial.suggest_int(
            self.key, int(low), int(high), log=self.log, step=int(self.step or 1)
        )


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
    return known_files("sweeps")


def load_sweep(name: str) -> Sweep:
    """Read and validate ``studies/sweeps/NAME.toml`` (or a path).

    Raises:
        ConfigError: unknown sweep (known ones listed), unknown keys, a search-space key that is
            not a config key, or a bad distribution (low > high, log with low <= 0...).
    """
    path = Path(name)
    if not (path.suffix == ".toml" and path.is_file()):
        found = find_file(name, "sweeps")
        if found is None:
            raise ConfigError(
                f"unknown sweep {name!r}; known: {', '.join(known_sweeps()) or '(none)'}"
            )
        path = found
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
                    else (int(p.low or 0) if p.type == "int" else p.low)
                },
            )
        except ConfigError as err:
            raise ConfigError(f"{path}: search space: {err}") from None
    return sweep


def base_config(sweep: Sweep, *, smoke: bool) -> RunConfig:
    """The recipe with the sweep's settings and the validation hold-out applied.

    Layers as a study's (:mod:`bench.studies.files`): the recipe, its ``[smoke]`` (with ``smoke``),
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
