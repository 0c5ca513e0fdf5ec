"""Studies as data: a question, a base recipe, named arms (a reason and overrides each), seeds.

A study file (``studies/NAME.toml``)::

    question = "How much surrounding context should the context branch see?"
    recipe = "synth"                      # studies/recipes/synth.toml
    seeds = [0, 1, 2]
    parameter = "model.context_ratio"     # the studied key (plots put it on the x axis)
    reference = "ratio 1.0"               # the arm others are compared with
    metrics = ["mAP", "mAP_ambiguous"]    # columns of the study table

    [[arms]]
    name = "ratio 1.0"
    reason = "no context: the context patch is the object patch"
    set = { "model.context_ratio" = 1.0 }
    # reference = "..."                   # an arm compared with another arm than the study's

    [smoke]                               # what --smoke changes, on top of the recipe's [smoke]
    seeds = [0]

Every arm x seed becomes one run config, its layers applied in one order (:func:`resolve`):

1. the recipe (``studies/recipes/NAME.toml``);
2. with ``--smoke``, the recipe's ``[smoke]`` (tiny data, short phases);
3. the study's ``set``, then the arm's ``set``;
4. with ``--smoke``, the study's ``[smoke].set`` (the study's own shrinking of its arms, e.g.
   no pretrained weights for an arm that asks for them);
5. the seed;
6. ``--set`` from the command line, last, so an explicit override always wins. A ``--set`` of a
   key that an arm sets is refused: it would give every arm the same value under its own name.

Unknown keys, wrong types and impossible values anywhere raise
:class:`scac.config.ConfigError` naming the file, the layer and the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.studies.resources import bundled
from scac.config import ConfigError, RunConfig, load_recipe, read_toml, with_overrides

_STUDY_KEYS = {
    "question",
    "recipe",
    "seeds",
    "parameter",
    "reference",
    "metrics",
    "set",
    "arms",
    "smoke",
    "notes",
}
_ARM_KEYS = {"name", "reason", "set", "reference"}
_SMOKE_KEYS = {"seeds", "set"}


def studies_dirs() -> list[Path]:
    """Where studies, recipes (``recipes/``) and sweeps (``sweeps/``) are looked for, in order:
    ``$BENCH_STUDIES`` if set, else ``./studies`` if it exists (a user's own, which extend the
    toolkit's and win on a name both have), then the toolkit's own
    (:func:`bench.studies.resources.bundled`)."""
    own = bundled("studies")
    user = Path(os.environ["BENCH_STUDIES"]) if os.environ.get("BENCH_STUDIES") else None
    if user is None and (Path.cwd() / "studies").is_dir():
        user = Path.cwd() / "studies"
    dirs = [user] if user is not None else []
    return dirs + [own] if own.resolve() not in [d.resolve() for d in dirs] else dirs


def studies_dir() -> Path:
    """The first of :func:`studies_dirs`."""
    return studies_dirs()[0]


def find_file(name: str, kind: str = "") -> Path | None:
    """``NAME.toml`` in the ``kind`` subfolder (``""``, ``recipes``, ``sweeps``) of the first of
    :func:`studies_dirs` that has it, or None."""
    for folder in studies_dirs():
        path = folder / kind / f"{name}.toml"
        if path.is_file():
            return path
    return None


def known_files(kind: str = "") -> list[str]:
    """The names of every ``*.toml`` in the ``kind`` subfolder of :func:`studies_dirs`."""
    return sorted({p.stem for folder in studies_dirs() for p in (folder / kind).glob("*.toml")})


def known_studies() -> list[str]:
    """Names of the study files (:func:`studies_dirs`)."""
    return known_files()


@dataclass(frozen=True)
class Arm:
    """One arm: a name, why it is there, the overrides that make it, and (optionally) the arm
    it is compared with when that is not the study's reference (pairs of arms in one study)."""

    name: str
    reason: str
    overrides: dict[str, Any]
    reference: str | None = None


@dataclass(frozen=True)
class Study:
    """A parsed study file."""

    name: str
    path: Path
    question: str
    recipe: Path
    seeds: tuple[int, ...]
    arms: tuple[Arm, ...]
    overrides: dict[str, Any]
    smoke_overrides: dict[str, Any]
    smoke_seeds: tuple[int, ...] | None
    metrics: tuple[str, ...]
    parameter: str | None
    reference: str | None

    def reference_of(self, arm: Arm) -> str | None:
        """The arm ``arm`` is compared with: its own reference, else the study's; None for a
        reference itself (or when the study has none)."""
        ref = arm.reference or self.reference
        return None if ref == arm.name else ref

    @property
    def paired(self) -> bool:
        """Whether some arm names its own reference (the table then says which, per arm)."""
        return any(a.reference for a in self.arms)


def _check_keys(data: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of dotted keys, got {value!r}")
    return dict(value)


def find_recipe(name: str, relative_to: Path) -> Path:
    """A recipe by name (``studies/recipes/NAME.toml``) or by path."""
    for candidate in (
        relative_to / "recipes" / f"{name}.toml",
        relative_to / name,
        Path(name),
        find_file(name, "recipes"),
    ):
        if candidate is not None and candidate.is_file():
            return candidate
    known = known_files("recipes")
    raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(known) or '(none)'}")


def load_study(name: str, *, validate: bool = True) -> Study:
    """Read and validate a study by name (``studies/NAME.toml``) or path.

    With ``validate`` every arm's config is built now, naming the arm of a bad key; a caller
    that resolves the configs itself (planning a study) passes False, so each config is built
    once.

    Raises:
        ConfigError: unknown study (known ones listed), malformed TOML (file and line), unknown
            keys, arms without a reason, or overrides that do not apply to the recipe.
    """
    path = Path(name)
    if not (path.suffix == ".toml" and path.is_file()):
        found = find_file(name)
        if found is None:
            raise ConfigError(
                f"unknown study {name!r}; known: {', '.join(known_studies()) or '(none)'}"
            )
        path = found
    data = read_toml(path)
    _check_keys(data, _STUDY_KEYS, str(path))
    for required in ("question", "recipe", "arms"):
        if required not in data:
            raise ConfigError(f"{path}: missing key {required!r}")
    arms = []
    for i, arm in enumerate(data["arms"]):
        where = f"{path}: arms[{i}]"
        if not isinstance(arm, dict):
            raise ConfigError(f"{where} must be a table")
        _check_keys(arm, _ARM_KEYS, where)
        if not arm.get("name") or not arm.get("reason"):
            raise ConfigError(f"{where} needs a name and a reason")
        own = arm.get("reference")
        arms.append(
            Arm(
                str(arm["name"]),
                str(arm["reason"]),
                _table(arm.get("set", {}), f"{where}.set"),
                None if own is None else str(own),
            )
        )
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: arm names must be unique, got {names}")
    for i, arm in enumerate(arms):
        if arm.reference is not None and arm.reference not in names:
            raise ConfigError(
                f"{path}: arms[{i}] ({arm.name!r}): reference arm {arm.reference!r} is not an "
                f"arm ({', '.join(names)})"
            )
    smoke = _table(data.get("smoke", {}), f"{path}: [smoke]")
    _check_keys(smoke, _SMOKE_KEYS, f"{path}: [smoke]")
    recipe = find_recipe(str(data["recipe"]), path.parent)
    reference = data.get("reference")
    if reference is not None and reference not in names:
        raise ConfigError(f"{path}: reference arm {reference!r} is not an arm ({', '.join(names)})")
    study = Study(
        name=path.stem,
        path=path,
        question=str(data["question"]),
        recipe=recipe,
        seeds=tuple(int(s) for s in data.get("seeds", [0])),
        arms=tuple(arms),
        overrides=_table(data.get("set", {}), f"{path}: set"),
        smoke_overrides=_table(smoke.get("set", {}), f"{path}: [smoke].set"),
        smoke_seeds=tuple(int(s) for s in smoke["seeds"]) if "seeds" in smoke else None,
        metrics=tuple(data.get("metrics", ("mAP", "CF1", "OF1"))),
        parameter=data.get("parameter"),
        reference=reference,
    )
    if validate:
        resolve(study, smoke=False)  # every arm's overrides checked now, naming the arm
    return study


def recipe_smoke_overrides(recipe: Path) -> dict[str, Any]:
    """The ``[smoke]`` table of a recipe: what ``--smoke`` shrinks."""
    return _table(read_toml(recipe).get("smoke", {}), f"{recipe}: [smoke]")


def _overlap(a: str, b: str) -> bool:
    """Whether two dotted keys touch the same value (equal, or one inside the other)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def check_overrides(study: Study, overrides: dict[str, Any]) -> None:
    """Refuse command-line overrides that would change what the study's arms are.

    Raises:
        ConfigError: a key that an arm sets (the arms are named), or the seed.
    """
    for key in overrides:
        if key == "seed":
            raise ConfigError("--set seed: choose the seeds of a study with --seeds")
        arms = [a.name for a in study.arms if any(_overlap(key, k) for k in a.overrides)]
        if arms:
            shown = ", ".join(repr(a) for a in arms[:4]) + (", ..." if len(arms) > 4 else "")
            raise ConfigError(
                f"--set {key}: the study's arms set this key ({shown}); overriding it would give "
                f"every arm the same value under its own name. Copy the study file to vary it"
            )


def resolve(
    study: Study,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[tuple[Arm, int, RunConfig]]:
    """Every (arm, seed, resolved config) of ``study``, arms in file order (see the module
    docstring for the order of the layers).

    Args:
        study: the study.
        smoke: apply the recipe's and the study's smoke overrides (tiny data, short phases).
        seeds: replace the study's seeds.
        overrides: dotted-key overrides from the command line, applied to every run, last.
    """
    overrides = overrides or {}
    check_overrides(study, overrides)
    base = load_recipe(study.recipe)
    if smoke:
        base = apply_layer(base, recipe_smoke_overrides(study.recipe), f"{study.recipe}: [smoke]")
    seeds = seeds or study_seeds(study, smoke)
    out = []
    for arm in study.arms:
        layers = [("set", study.overrides), (f"arm {arm.name!r}", arm.overrides)]
        if smoke:
            layers.append(("[smoke].set", study.smoke_overrides))
        cfg = base
        for where, layer in layers:
            cfg = apply_layer(cfg, layer, f"{study.path}: {where}")
        for seed in seeds:
            final = apply_layer(cfg, {"seed": seed}, f"{study.path}: seed")
            out.append((arm, seed, apply_layer(final, overrides, f"--set (arm {arm.name!r})")))
    return out


def study_seeds(study: Study, smoke: bool) -> tuple[int, ...]:
    """The seeds a study runs by default (its ``[smoke]`` seeds with ``--smoke``)."""
    return study.smoke_seeds if smoke and study.smoke_seeds else study.seeds


def apply_layer(cfg: RunConfig, layer: dict[str, Any], where: str) -> RunConfig:
    """``cfg`` with one layer of dotted-key overrides; an error names ``where`` it came from."""
    if not layer:
        return cfg
    try:
        return with_overrides(cfg, layer)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
