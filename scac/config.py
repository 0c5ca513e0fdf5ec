"""Run configuration: frozen dataclasses of primitives, read from TOML, overridden by dotted keys.

A run is fully described by one :class:`RunConfig`. Recipes and studies are TOML data that fill
it; ``--set model.context_ratio=2.0`` on the command line and the arms of a study use the same
dotted-key override path (:func:`with_overrides`). Unknown keys, wrong types and values outside a
field's choices or range raise :class:`ConfigError` naming the key, with a suggestion when the
key looks like a typo.

The ``data``, ``train`` and ``eval`` sections are in :mod:`scac.sections`. The ``model`` and
``loss`` sections belong to the model family that ``model.name`` names (:mod:`scac.families`):
the family's config classes are parsed, and the family checks what its model needs of the rest.
No ``nn.Module`` reads these objects: the family's builder and ``scac.engine`` translate them
into explicit arguments.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from scac.config_fields import Range, Registered, Unkeyed
from scac.families import FAMILIES, LossConfig, ModelConfig
from scac.sections import DataConfig, EvalConfig, PhaseConfig, SynthConfig, TrainConfig


class ConfigError(ValueError):
    """A configuration that cannot be read: unknown key, wrong type, bad TOML."""


__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "PhaseConfig",
    "RunConfig",
    "SynthConfig",
    "TrainConfig",
    "config_hash",
    "flatten",
    "key_dict",
    "from_dict",
    "load_recipe",
    "parse_override",
    "read_toml",
    "to_dict",
    "with_overrides",
]


def _default_model() -> ModelConfig:
    return FAMILIES.get("scac").config()


def _default_loss() -> LossConfig:
    return FAMILIES.get("scac").loss_config()


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers of one run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=_default_model)  # the family's config class
    loss: LossConfig = field(default_factory=_default_loss)  # ... and its loss config class
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# ---------------------------------------------------------------------------------------------
# Reading dictionaries into dataclasses, with errors that name the key


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (known: {', '.join(known)})"


def _constrain(value: Any, constraints: tuple, key: str) -> Any:
    """Check ``value`` against the ``Range`` and ``Registered`` marks of an Annotated type."""
    for mark in constraints:
        if isinstance(mark, Range) and (problem := mark.check(value)):
            raise ConfigError(f"config key {key!r} {problem}, got {value!r}")
        if isinstance(mark, Registered):
            names = mark.names()
            if value not in names:
                raise ConfigError(f"config key {key!r}: unknown {value!r}{_suggest(value, names)}")
    return value


def _coerce(value: Any, tp: Any, key: str, chosen: Mapping[type, type]) -> Any:
    """``value`` as type ``tp``; ``chosen`` maps a base section class (``ModelConfig``) to the
    class the run's family chose for it."""
    tp = chosen.get(tp, tp)
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *constraints = typing.get_args(tp)
        return _constrain(_coerce(value, base, key, chosen), tuple(constraints), key)
    if origin is Literal:
        choices = typing.get_args(tp)
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"config key {key!r} must be one of {allowed}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} must be a table, got {value!r}")
        return _from_mapping(cast(type, tp), value, key, chosen)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        return tuple(_coerce(v, item_tp, f"{key}.{i}", chosen) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config key {key!r} has an unsupported type {tp!r}")  # pragma: no cover


def _family(data: Mapping[str, Any]):
    """The model family that the config's ``model.name`` names (``scac`` when absent)."""
    model = data.get("model", {})
    if not isinstance(model, Mapping):
        raise ConfigError(f"config key 'model' must be a table, got {model!r}")
    name = model.get("name", "scac")
    if not isinstance(name, str):
        raise ConfigError(f"config key 'model.name' must be a string, got {name!r}")
    try:
        return FAMILIES.get(name)
    except ValueError as err:
        raise ConfigError(f"config key 'model.name': {err}") from None


def _from_mapping(
    cls: type, data: Mapping[str, Any], prefix: str, chosen: Mapping[type, type]
) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key {where!r}{_suggest(key, names)}")
    kwargs = {
        f.name: _coerce(
            data[f.name], hints[f.name], f"{prefix}.{f.name}" if prefix else f.name, chosen
        )
        for f in dataclasses.fields(cls)
        if f.name in data
    }
    for f in dataclasses.fields(cls):  # a section left out still takes the family's class
        if f.name not in kwargs and hints[f.name] in chosen:
            kwargs[f.name] = chosen[hints[f.name]]()
    return cls(**kwargs)


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from nested dictionaries (missing keys take their defaults).

    The ``model`` and ``loss`` sections are read as the classes of the family ``model.name``
    names, and the family checks the result (:meth:`scac.families.ModelFamily.check`).
    """
    family = _family(data)
    chosen = {ModelConfig: family.config, LossConfig: family.loss_config}
    run = _from_mapping(RunConfig, data, "", chosen)
    try:
        family.check(run.model, run.data)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return run


def to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dictionaries (tuples become lists), the inverse of :func:`from_dict`."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


def flatten(config: Any) -> dict[str, Any]:
    """Dotted keys to leaf values, e.g. ``{"model.context_ratio": 2.0, ...}``."""
    out: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else k)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, v in enumerate(value):
                walk(v, f"{prefix}.{i}")
        else:
            out[prefix] = value

    walk(to_dict(config), "")
    return out


# ---------------------------------------------------------------------------------------------
# Overrides


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"unknown config key {key!r}: {where!r} is not an index < {len(node)}"
                )
            index: Any = int(part)
        elif isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"unknown config key {key!r}{_suggest(part, sorted(node))}")
            index = part
        else:
            raise ConfigError(f"unknown config key {key!r}: {'.'.join(parts[:depth])!r} is a value")
        if last:
            node[index] = list(value) if isinstance(value, tuple) else value
        else:
            node = node[index]


def with_overrides(config: RunConfig, overrides: Mapping[str, Any]) -> RunConfig:
    """Return ``config`` with dotted-key overrides applied and re-validated.

    Changing ``model.name`` resets the ``model`` and ``loss`` sections to that model's defaults
    before the other overrides apply.
    """
    data = to_dict(config)
    if "model.name" in overrides and overrides["model.name"] != data["model"]["name"]:
        family = _family({"model": {"name": overrides["model.name"]}})
        data["model"], data["loss"] = to_dict(family.config()), to_dict(family.loss_config())
    for key, value in overrides.items():
        if key != "model.name":
            _set_path(data, key, value)
    return from_dict(data)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as a TOML literal.

    ``model.context_ratio=2`` gives ``2``, ``model.branches=["object"]`` a list, and a bare
    word such as ``model.fusion=max`` a string.
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


# ---------------------------------------------------------------------------------------------
# Files and identity


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file and line."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"malformed TOML in {path}: {err}") from None


def load_recipe(path: str | Path) -> RunConfig:
    """A recipe file is a TOML rendering of :class:`RunConfig` (plus an optional ``[smoke]``)."""
    data = read_toml(path)
    data.pop("smoke", None)
    data.pop("description", None)
    try:
        return from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def key_dict(config: Any) -> dict[str, Any]:
    """:func:`to_dict` without the fields that hold their :class:`~scac.config_fields.Unkeyed`
    value: what a run key hashes."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            hints = _hints(cast(type, type(value)))
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if not _unkeyed(hints[f.name], getattr(value, f.name))
            }
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(config)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _unkeyed(tp: Any, value: Any) -> bool:
    """Whether a field of type ``tp`` holding ``value`` is left out of the run key."""
    if typing.get_origin(tp) is not Annotated:
        return False
    marks = typing.get_args(tp)[1:]
    return any(isinstance(m, Unkeyed) and m.value == value for m in marks)


def config_hash(config: RunConfig, *extra: str) -> str:
    """A stable 16-hex-digit hash of the resolved config (:func:`key_dict`) and any extra
    identity strings."""
    payload = json.dumps({"config": key_dict(config), "extra": list(extra)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
