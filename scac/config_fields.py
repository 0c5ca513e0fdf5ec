"""Constrained field types for the config dataclasses: fixed choices and numeric ranges.

A config field typed ``Literal["none", "bf16", "fp16"]`` accepts only those strings, and one
typed ``Annotated[float, Range(low=1.0)]`` only numbers in that range. :mod:`scac.config` checks
both whenever a config is built (a recipe read, an override applied), so an impossible value is
one clear error naming the key when a study is planned, not a failure of every run after its data
and weights were prepared. ``Annotated[str, Registered("scac.models.backbones:BACKBONES")]``
accepts the names of a registry.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from scac.models import names


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric config value (None: unbounded on that side).

    Attributes:
        low: smallest allowed value.
        high: largest allowed value.
        low_open: ``low`` itself is not allowed (``> low`` instead of ``>= low``).
        high_open: ``high`` itself is not allowed.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, value: float) -> str | None:
        """None when ``value`` is allowed, else what it must be (``"must be >= 1"``)."""
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        if low_ok and high_ok:
            return None
        return f"must be {self.describe()}"

    def describe(self) -> str:
        """``>= 1``, ``in [0, 1)``, ``> 0``..."""
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return f"{'<' if self.high_open else '<='} {_num(self.high)}"


@dataclass(frozen=True)
class Registered:
    """A string that must name an entry of a registry (an ablation axis: backbones, fusions).

    Attributes:
        registry: the registry, as ``"module:attribute"``; it lives beside its torch code.
        declared: its names as plain data (``scac.models.names``), so a config is checked
            without loading torch. Once the registry's module is loaded (a run, a plugin that
            registered more), its own names are the answer, and a declared name it lacks is an
            error that names both lists.
    """

    registry: str
    declared: tuple[str, ...] = ()

    def names(self) -> list[str]:
        module, attribute = self.registry.split(":")
        if module not in sys.modules and self.declared:
            return sorted(self.declared)
        live = getattr(importlib.import_module(module), attribute).names()
        missing = sorted(set(self.declared) - set(live))
        if missing:
            raise RuntimeError(
                f"{self.registry} lacks {missing}, which scac.models.names declares: "
                "keep the two lists equal"
            )
        return live


@dataclass(frozen=True)
class Unkeyed:
    """A field added after results version 4, left out of the run key while it holds ``value``.

    ``value`` is what the code did before the field existed (the golden values pin that it still
    does), so every run key computed before the field was added keeps naming its result, and a
    store's finished runs stay finished. Set to anything else, the field is part of the key. A
    later change of the field's default is keyed as well: ``value`` stays what it was.

    Attributes:
        value: the field's value under which it is not part of the key.
    """

    value: Any


def _num(x: float | None) -> str:
    return f"{x:g}"


# the shapes most fields take
Positive = Annotated[int, Range(low=1)]  # counts and sizes
NonNegativeInt = Annotated[int, Range(low=0)]
NonNegative = Annotated[float, Range(low=0.0)]  # weights, learning rates, decays
PositiveFloat = Annotated[float, Range(low=0.0, low_open=True)]
Probability = Annotated[float, Range(low=0.0, high=1.0)]  # thresholds, fractions, IoUs
Share = Annotated[float, Range(low=0.0, high=1.0, high_open=True)]  # a part that leaves some

# names that live in registries, and small choice sets every family shares
Backbone = Annotated[str, Registered("scac.models.backbones:BACKBONES", names.BACKBONES)]
Reduction = Literal["sum", "mean"]  # over classes: eq. 5 / SRN eq. 10 sum, "mean" divides by C


def _problem(value: Any, tp: Any) -> str | None:
    """What is wrong with ``value`` under the choices and bounds of type ``tp``, or None."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *marks = typing.get_args(tp)
        if (inner := _problem(value, base)) is not None:
            return inner
        for mark in marks:
            if isinstance(mark, Range) and (problem := mark.check(value)):
                return f"{problem}, got {value!r}"
            if isinstance(mark, Registered) and value not in (names := mark.names()):
                return f"must be one of {', '.join(names)}, got {value!r}"
        return None
    if origin is Literal and value not in typing.get_args(tp):
        allowed = ", ".join(repr(c) for c in typing.get_args(tp))
        return f"must be one of {allowed}, got {value!r}"
    if origin is tuple and isinstance(value, tuple):
        item = typing.get_args(tp)[0]
        problems = (_problem(v, item) for v in value)
        return next((f"{p} (in {value!r})" for p in problems if p is not None), None)
    return None


def check_fields(section: Any, prefix: str) -> None:
    """Check a config section's values against its fields' choices and bounds, however it was
    made (read from TOML, or constructed in code).

    Raises:
        ValueError: ``"{prefix}.{field} must be ..."`` for the first value out of bounds.
    """
    hints = typing.get_type_hints(type(section), include_extras=True)
    for f in dataclasses.fields(section):
        problem = _problem(getattr(section, f.name), hints[f.name])
        if problem is not None:
            raise ValueError(f"{prefix}.{f.name} {problem}")
