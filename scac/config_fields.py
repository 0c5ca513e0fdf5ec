"""Constrained field types for the config dataclasses: fixed choices and numeric ranges.

A config field typed ``Literal["none", "bf16", "fp16"]`` accepts only those strings, and one
typed ``Annotated[float, Range(low=1.0)]`` only numbers in that range. :mod:`scac.config` checks
both whenever a config is built (a recipe read, an override applied), so an impossible value is
one clear error naming the key when a study is planned, not a failure of every run after its data
and weights were prepared. ``Annotated[str, Registered("scac.models.backbones:BACKBONES")]``
accepts the names of a registry.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Annotated


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

    The registry is named as ``"module:attribute"`` and imported only when a value is checked,
    so the config module stays free of torch while the registry stays the one list of names.
    """

    registry: str

    def names(self) -> list[str]:
        module, attribute = self.registry.split(":")
        return getattr(importlib.import_module(module), attribute).names()


def _num(x: float | None) -> str:
    return f"{x:g}"


# the shapes most fields take
Positive = Annotated[int, Range(low=1)]  # counts and sizes
NonNegativeInt = Annotated[int, Range(low=0)]
NonNegative = Annotated[float, Range(low=0.0)]  # weights, learning rates, decays
PositiveFloat = Annotated[float, Range(low=0.0, low_open=True)]
Probability = Annotated[float, Range(low=0.0, high=1.0)]  # thresholds, fractions, IoUs
Share = Annotated[float, Range(low=0.0, high=1.0, high_open=True)]  # a part that leaves some
