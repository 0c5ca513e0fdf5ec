"""Planning: what runs a command asks for, each with its resolved config and run key, made once.

A :class:`Plan` is the list of :class:`RunSpec` one invocation asks for: every arm x seed of a
study (``bench run study``, ``bench worker``'s queue), one recipe (``bench train``), one sweep
trial or the sweep's final test. Every config is built and validated here, before any work, so a
bad key or an impossible value is one error, not a failed run per arm.

A study run with ``--set`` is a **variant** of the study: its runs are recorded under the
variant's name (``--variant NAME``, or the overrides themselves, ``model.fusion=max``) beside the
plain study's, never in place of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.studies.files import Study, apply_layer, find_recipe, resolve, studies_dir, study_seeds
from scac import numerics as paths
from scac.config import ConfigError, RunConfig, load_recipe
from scac.engine.identity import run_identity

TRAIN_STUDY = "bench train"  # the study that `bench train` records its runs under


@dataclass(frozen=True)
class RunSpec:
    """One run a command asks for.

    Attributes:
        study: the study it belongs to (``bench train``, ``sweep:NAME`` for sweeps).
        variant: the study's variant (``""``: the plain study).
        arm: the arm (the recipe's name for ``bench train``, ``trial N`` for sweeps).
        seed: the seed.
        smoke: a smoke-size run.
        config: the resolved config.
        key: its run key.
        numerics: the numerics path the key names (:func:`scac.numerics.identity`).
    """

    study: str
    variant: str
    arm: str
    seed: int
    smoke: bool
    config: RunConfig
    key: str
    numerics: str

    def label(self) -> str:
        """``study [variant] | arm | seed S``, for progress lines."""
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.study}{variant} | {self.arm} | seed {self.seed}"


@dataclass(frozen=True)
class Plan:
    """The runs one invocation asks for.

    Attributes:
        study: the study's name.
        variant: the variant (``""``: plain).
        overrides: the variant's command-line overrides.
        smoke: smoke size.
        seeds: the seeds asked for.
        runs: every run, in the study's order (two arms may share a run key).
        numerics: the numerics path every run computes on (:func:`scac.numerics.identity`).
    """

    study: str
    variant: str
    overrides: dict[str, Any]
    smoke: bool
    seeds: tuple[int, ...]
    runs: tuple[RunSpec, ...]
    numerics: str

    @property
    def distinct(self) -> list[RunSpec]:
        """One spec per run key, the first that asks for it."""
        return list({s.key: s for s in reversed(self.runs)}.values())[::-1]

    def title(self) -> str:
        """``study``, ``study (smoke)``, ``study [variant]``."""
        variant = f" [{self.variant}]" if self.variant else ""
        return f"{self.study}{variant}{' (smoke)' if self.smoke else ''}"


def variant_name(overrides: dict[str, Any], name: str | None = None) -> str:
    """The name of the variant ``overrides`` make: ``name``, or the overrides written out.

    Raises:
        ConfigError: a name without overrides (a variant must differ from the plain study).
    """
    if name is not None:
        if not name.strip():
            raise ConfigError("--variant needs a name")
        if not overrides:
            raise ConfigError(
                f"--variant {name!r} needs --set overrides: without them it is the plain study"
            )
        return name.strip()
    return ", ".join(f"{k}={_literal(v)}" for k, v in sorted(overrides.items()))


def _literal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def numerics_layer(device: str) -> tuple[str, dict[str, str]]:
    """(the numerics path of this process's mode on ``device``, the variant layer it makes).

    A mode whose path differs from the default mode's (``native`` on a CPU that has the pinned
    path, ``deterministic`` on a GPU) makes its runs a variant, ``numerics=MODE``: their keys
    differ, and a study's plain runs stay the default path's, side by side with them.
    """
    chosen = paths.mode()
    here = paths.identity(device, chosen)
    if here == paths.identity(device, paths.DEFAULT_MODE):
        return here, {}
    return here, {"numerics": chosen}


def plan_study(
    study: Study,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict[str, Any] | None = None,
    variant: str | None = None,
    device: str = "auto",
) -> Plan:
    """Every arm x seed of ``study`` as a run spec (configs layered as :mod:`bench.studies.files`
    says).

    Args:
        study: the study.
        smoke: the recipe's and the study's smoke settings.
        seeds: replace the study's seeds.
        overrides: ``--set`` overrides (they make a variant).
        variant: the variant's name (default: derived from ``overrides``).
        device: the runs' device, which (with the numerics mode) decides their numerics path.

    Raises:
        ConfigError: an unknown key, a wrong type or an impossible value (named, with the
            layer it came from), or an override of a key the arms set.
    """
    overrides = dict(overrides or {})
    numerics, layer = numerics_layer(device)
    name = variant_name({**overrides, **layer}, variant)
    runs = tuple(
        RunSpec(study.name, name, arm.name, seed, smoke, cfg, run_identity(cfg, numerics), numerics)
        for arm, seed, cfg in resolve(study, smoke=smoke, seeds=seeds, overrides=overrides)
    )
    seeds = seeds or study_seeds(study, smoke)
    return Plan(study.name, name, {**overrides, **layer}, smoke, seeds, runs, numerics)


def plan_recipe(
    recipe: str,
    *,
    data: str | None = None,
    overrides: dict[str, Any] | None = None,
    device: str = "auto",
) -> Plan:
    """One run of a recipe (``bench train``): recipe, then ``--data``, then ``--set``.

    Its study is :data:`TRAIN_STUDY`, its arm the recipe's name; overrides (and a numerics mode
    other than the default, see :func:`numerics_layer`) make a variant.
    """
    path = find_recipe(recipe, studies_dir())
    layers = {
        **({"data.root": str(Path(data).expanduser().resolve())} if data else {}),
        **(overrides or {}),
    }
    cfg = apply_layer(load_recipe(path), layers, str(path))
    numerics, layer = numerics_layer(device)
    name = variant_name({**layers, **layer})
    key = run_identity(cfg, numerics)
    spec = RunSpec(TRAIN_STUDY, name, path.stem, cfg.seed, False, cfg, key, numerics)
    return Plan(TRAIN_STUDY, name, {**layers, **layer}, False, (cfg.seed,), (spec,), numerics)


def single_run(
    study: str,
    arm: str,
    cfg: RunConfig,
    *,
    smoke: bool = False,
    variant: str = "",
    device: str = "auto",
) -> RunSpec:
    """The spec of one run outside a study file (a sweep's trial or its final test), on the
    numerics path of this process's mode on ``device``."""
    numerics = paths.identity(device)
    return RunSpec(study, variant, arm, cfg.seed, smoke, cfg, run_identity(cfg, numerics), numerics)
