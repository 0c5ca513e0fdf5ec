"""Grids from the command line: the product of a few settings, written as a study file.

``bench run grid synth --vary model.context_ratio=1,3,5 --vary loss.alpha=0.5,1 --name g``
writes ``g.toml`` (six arms, one per point of the product, the first point the reference) into
the user's studies folder and runs it as any study: claimed, recorded, resumable, and found
again by ``bench run study g`` and every table, plot and report. A name that already holds a
study with other arms, recipe, seeds or settings is refused: one name, one study.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.studies.files import find_file, load_study
from scac.config import ConfigError, parse_override


@dataclass(frozen=True)
class Axis:
    """One ``--vary key=v1,v2,...``: a dotted config key and its values, in order."""

    key: str
    values: tuple[Any, ...]


def _split_top_level(text: str) -> list[str]:
    """``1,3,5`` -> three parts; commas inside brackets, braces or quotes do not split
    (``["object"],["object","context"]`` is two lists)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in [*parts, text[start:]]]


def parse_axis(text: str) -> Axis:
    """``key=v1,v2,...`` as an :class:`Axis`; each value read as a TOML literal (a bare word is
    a string), as ``--set`` reads its value.

    Raises:
        ConfigError: no ``=``, an empty value, or a value given twice.
    """
    if "=" not in text:
        raise ConfigError(f"--vary {text!r} must look like key=value1,value2,...")
    key, raw = (s.strip() for s in text.split("=", 1))
    values = [parse_override(f"{key}={v}")[1] for v in _split_top_level(raw)]
    if not key or "" in values:
        raise ConfigError(f"--vary {text!r}: a key and values separated by commas, none empty")
    if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
        raise ConfigError(f"--vary {text!r}: a value is given twice")
    return Axis(key, tuple(values))


def _toml(value: Any) -> str:
    """A TOML literal for a string, number, boolean or list of them (JSON writes the same)."""
    if isinstance(value, float) and value != value:
        raise ConfigError("a grid value cannot be nan")
    return json.dumps(value, ensure_ascii=False)


def _table(items) -> str:
    """An inline TOML table of dotted keys: ``{ "a.b" = 1, "c" = "x" }``."""
    return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in items) + " }"


def _short(value: Any) -> str:
    return value if isinstance(value, str) else _toml(value)


def _arm_names(axes: list[Axis], points: list[tuple[Any, ...]]) -> list[str]:
    """``context_ratio=1, alpha=0.5``: each key by its last part where that is unambiguous."""
    last = [a.key.rsplit(".", 1)[-1] for a in axes]
    labels = [lb if last.count(lb) == 1 else a.key for lb, a in zip(last, axes, strict=True)]
    return [
        ", ".join(f"{lb}={_short(v)}" for lb, v in zip(labels, point, strict=True))
        for point in points
    ]


def grid_text(
    recipe: str, axes: list[Axis], seeds: tuple[int, ...], settings: dict[str, Any]
) -> str:
    """The study file of the grid: one arm per point of the product, the first the reference."""
    if not axes:
        raise ConfigError("a grid needs at least one --vary key=v1,v2,...")
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--vary: key {keys[0]!r} is varied twice")
    clash = sorted(set(keys) & set(settings))
    if clash:
        raise ConfigError(f"--set {clash[0]}: the grid varies this key")
    points = list(itertools.product(*(a.values for a in axes)))
    names = _arm_names(axes, points)
    shown = " x ".join(f"{a.key} ({len(a.values)})" for a in axes)
    lines = [
        "# written by `bench run grid`; `bench run study NAME` runs it again",
        f"question = {_toml(f'How do {shown} change the results?')}",
        f"recipe = {_toml(recipe)}",
        f"seeds = {_toml(list(seeds))}",
        f"parameter = {_toml(axes[0].key)}",
        f"reference = {_toml(names[0])}",
    ]
    if settings:
        lines.append(f"set = {_table(settings.items())}")
    for name, point in zip(names, points, strict=True):
        lines += ["", "[[arms]]", f"name = {_toml(name)}", 'reason = "a point of the grid"']
        lines.append(f"set = {_table((a.key, v) for a, v in zip(axes, point, strict=True))}")
    return "\n".join(lines) + "\n"


def grids_dir() -> Path:
    """Where a grid's study file is written: ``$BENCH_STUDIES`` if set, else ``./studies``
    (where :func:`bench.studies.files.studies_dirs` looks first)."""
    return Path(os.environ.get("BENCH_STUDIES") or Path.cwd() / "studies")


def _same_study(a, b) -> bool:
    arms = [(x.name, x.overrides) for x in a.arms] == [(x.name, x.overrides) for x in b.arms]
    setup = (a.recipe.resolve(), a.seeds, a.overrides, a.reference)
    return arms and setup == (b.recipe.resolve(), b.seeds, b.overrides, b.reference)


def write_grid(
    name: str,
    recipe: str,
    axes: list[Axis],
    seeds: tuple[int, ...] = (0,),
    settings: dict[str, Any] | None = None,
) -> tuple[Path, bool]:
    """Write the grid's study file as ``NAME.toml`` (validated first: every point's config is
    built); ``(path, written)``, ``written`` False when the same study is already there.

    Raises:
        ConfigError: a bad axis or setting (named), or ``name`` taken by another study.
    """
    if not name or Path(name).name != name or name.endswith(".toml"):
        raise ConfigError(f"--name {name!r}: a plain study name (letters, digits, - and _)")
    if Path(recipe).suffix == ".toml" and Path(recipe).is_file():
        recipe = str(Path(recipe).resolve())  # the study file lives elsewhere
    text = grid_text(recipe, axes, seeds, settings or {})
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / f"{name}.toml"
        draft.write_text(text)
        try:  # every point's config built: a bad key or value fails here, named
            new = load_study(str(draft))
        except ConfigError as err:
            raise ConfigError(str(err).replace(str(draft), f"grid {name!r}")) from None
        existing = find_file(name)
        if existing is not None:
            old = load_study(str(existing))
            if not _same_study(old, new):
                raise ConfigError(
                    f"study {name!r} already exists ({existing}) with other arms or settings; "
                    "choose another --name, or run it with `bench run study NAME`"
                )
            return existing, False
        folder = grids_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.toml"
        path.write_text(text)
    return path, True
