"""Run configuration: frozen dataclasses of primitives, read from TOML, overridden by dotted keys.

A run is fully described by one :class:`RunConfig`. Recipes and studies are TOML data that fill
it; ``--set model.context_ratio=2.0`` on the command line and the arms of a study use the same
dotted-key override path (:func:`with_overrides`). Unknown keys and wrong types raise
:class:`ConfigError` naming the key, with a suggestion when the key looks like a typo.

The ``model`` section is a tagged union: ``model.name`` picks the model's config class
(:data:`MODEL_CONFIGS`, in ``scac.model_configs``), and the ``loss`` section's class follows the
model (:data:`LOSS_CONFIGS`). No ``nn.Module`` reads these objects: ``scac.models.build`` and
``scac.engine`` translate them into explicit arguments.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import tomllib

from scac.config_fields import (
    NonNegative,
    NonNegativeInt,
    Positive,
    Probability,
    Range,
    Registered,
    Share,
)
from scac.model_configs import LOSS_CONFIGS, MODEL_CONFIGS, SCACConfig, SCACLossConfig


class ConfigError(ValueError):
    """A configuration that cannot be read: unknown key, wrong type, bad TOML."""


__all__ = [
    "LOSS_CONFIGS",
    "MODEL_CONFIGS",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "PhaseConfig",
    "RunConfig",
    "SCACConfig",
    "SCACLossConfig",
    "SynthConfig",
    "TrainConfig",
    "config_hash",
    "flatten",
    "from_dict",
    "load_recipe",
    "parse_override",
    "read_toml",
    "to_dict",
    "with_overrides",
]


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed of the built-in synthetic context benchmark (``scac.data.synth``)."""

    seed: int = 0
    train: Positive = 1000
    val: Positive = 500
    canvas: Positive = 128


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are prepared.

    ``format``: ``synth`` (the built-in benchmark; an empty ``root`` generates the default one in
    the cache), ``coco`` (``root/annotations/instances_{split}.json`` and ``root/{split}/``) or
    ``voc`` (``root`` = ``VOCdevkit/VOC2007``, splits ``trainval`` / ``test``).
    """

    format: Literal["synth", "coco", "voc"] = "synth"
    root: str = ""
    train_split: str = "train"
    val_split: str = "val"
    image_size: Positive = 416
    hflip: bool = True
    keep_empty: bool = True  # COCO: keep images without annotations (82,783 / 40,504 in 2014)
    class_order: Literal["id", "alphabetical"] = "id"  # COCO: id order, or ML-GCN's alphabetical
    crowd: Literal["label", "ignore"] = "label"  # COCO crowd boxes: positive label, box unused
    # VOC difficult-only classes in training, and in evaluation (the VOC protocol ignores them)
    difficult_train: Literal["positive", "negative", "ignore"] = "positive"
    difficult_eval: Literal["positive", "negative", "ignore"] = "ignore"
    skip_bad: bool = False  # skip unreadable images (listed in the run record) instead of failing
    drop_labels: Share = 0.0  # partial-label protocol: share of training labels made unknown
    drop_labels_seed: int = 0
    # model selection (sweeps): share of the training split held out and evaluated instead of
    # val_split, which is then left untouched for the one final test of the chosen configuration
    holdout: Share = 0.0
    holdout_seed: int = 0
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase (paper §3.1: backbone frozen, then joint fine-tuning).

    ``freeze`` lists top-level parts of the model kept fixed in this phase (e.g. ``backbone``).
    """

    name: str = "joint"
    epochs: NonNegativeInt = 1
    lr: NonNegative = 0.002
    momentum: Probability = 0.5
    weight_decay: NonNegative = 0.01
    freeze: tuple[str, ...] = ()
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: NonNegativeInt = 0
    # names of the (weighted) loss terms this phase optimises; empty = all of them (the total)
    loss_terms: tuple[str, ...] = ()


def _paper_phases() -> tuple[PhaseConfig, ...]:
    return (PhaseConfig(name="frozen", epochs=1, freeze=("backbone",)), PhaseConfig(name="joint"))


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: SGD with the paper's settings (§3.1) as defaults."""

    batch_size: Positive = 2
    eval_batch_size: Positive = 8
    phases: tuple[PhaseConfig, ...] = field(default_factory=_paper_phases)
    grad_clip: NonNegative = 0.0  # max gradient norm; 0 = off
    amp: Literal["none", "bf16", "fp16"] = "none"  # mixed precision on GPUs
    channels_last: bool = False  # NHWC memory format (faster convolutions on recent GPUs)
    # intra-op threads of a run on the CPU: the count changes the numbers (it splits the sums of
    # convolutions and matrix products differently), so it is fixed per run and part of its key,
    # whatever the machine's cores or the number of workers sharing them
    cpu_threads: Positive = 2


@dataclass(frozen=True)
class EvalConfig:
    """How predictions are scored when a run finishes (the store keeps them for re-scoring)."""

    threshold: Probability = 0.5


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers of one run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = field(default_factory=SCACConfig)
    loss: Any = field(default_factory=SCACLossConfig)
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


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *constraints = typing.get_args(tp)
        return _constrain(_coerce(value, base, key), tuple(constraints), key)
    if origin is Literal:
        choices = typing.get_args(tp)
        if not isinstance(value, str) or value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"config key {key!r} must be one of {allowed}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r} must be a table, got {value!r}")
        return _from_mapping(tp, value, key)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        return tuple(_coerce(v, item_tp, f"{key}.{i}") for i, v in enumerate(value))
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


def _tagged_class(section: str, data: Mapping[str, Any]) -> type:
    """The config class of the ``model`` or ``loss`` section, chosen by the model's name."""
    name = data.get("name", "scac")
    if not isinstance(name, str):
        raise ConfigError(f"config key 'model.name' must be a string, got {name!r}")
    try:
        return MODEL_CONFIGS.get(name) if section == "model" else LOSS_CONFIGS.get(name)
    except ValueError as err:
        raise ConfigError(f"config key 'model.name': {err}") from None


def _from_mapping(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key {where!r}{_suggest(key, names)}")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        if cls is RunConfig and f.name in ("model", "loss"):
            continue  # resolved below, once the model's name is known
        kwargs[f.name] = _coerce(data[f.name], hints[f.name], key)
    if cls is RunConfig:
        model_data = data.get("model", {})
        if not isinstance(model_data, Mapping):
            raise ConfigError(f"config key 'model' must be a table, got {model_data!r}")
        model_cls = _tagged_class("model", model_data)
        kwargs["model"] = _from_mapping(model_cls, model_data, "model")
        loss_cls = _tagged_class("loss", {"name": kwargs["model"].name})
        loss_data = data.get("loss", {})
        if not isinstance(loss_data, Mapping):
            raise ConfigError(f"config key 'loss' must be a table, got {loss_data!r}")
        kwargs["loss"] = _from_mapping(loss_cls, loss_data, "loss")
    return cls(**kwargs)


def _check_input_size(config: RunConfig) -> RunConfig:
    # SRN and the latent-context model size layers from their input (conv4's kernels, the
    # spatial tokens): a mismatch would only fail at the first batch, after data and weights
    size = getattr(config.model, "input_size", None)
    if size is not None and size != config.data.image_size:
        raise ConfigError(
            f"config key 'model.input_size' ({size}) must equal 'data.image_size' "
            f"({config.data.image_size}): model {config.model.name!r} is sized for its images"
        )
    return config


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from nested dictionaries (missing keys take their defaults)."""
    return _check_input_size(_from_mapping(RunConfig, data, ""))


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
        data["model"] = {"name": overrides["model.name"]}
        data["loss"] = {}
        data = to_dict(_from_mapping(RunConfig, data, ""))  # checked once the rest is applied
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


def config_hash(config: RunConfig, *extra: str) -> str:
    """A stable 16-hex-digit hash of the resolved config and any extra identity strings."""
    payload = json.dumps({"config": to_dict(config), "extra": list(extra)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
