"""Summaries of the training curves kept in the store (``bench.store.history``).

One line per logged quantity: how many points, its first value, its best (lowest for a loss,
highest for a validation metric, none for what has no better direction: learning rate, gradient
norm, speed) and its last, each with the step it was logged at. ``bench results show`` prints
it, so whether a run converged is visible without drawing the curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CurveSummary:
    """One quantity of one run's curve.

    Attributes:
        name: what was logged (``loss/total``, ``loss/Lr``, ``lr``, ``val/mAP``...).
        points: how many values.
        first, last: the first and last values, with the steps they were logged at.
        best: the lowest loss or highest validation metric and its step; None where "better"
            has no direction.
    """

    name: str
    points: int
    first: tuple[int, float]
    last: tuple[int, float]
    best: tuple[int, float] | None


def direction(name: str) -> str | None:
    """``"min"`` for a loss, ``"max"`` for a validation metric, None otherwise."""
    if name.startswith("loss") or name == "epoch_loss":
        return "min"
    if name.startswith("val/"):
        return "max"
    return None


def summarize_curves(rows: list[dict[str, Any]]) -> list[CurveSummary]:
    """Per name, in name order, the summary of ``rows`` (``name``, ``step``, ``value``; one run's
    rows as :meth:`bench.store.Store.history` returns them)."""
    by_name: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append((r["step"], r["value"]))
    out = []
    for name in sorted(by_name):
        points = sorted(by_name[name])
        way = direction(name)
        best = None
        if way is not None:  # the earliest step wins a tie
            best = min(points, key=lambda p: (p[1] if way == "min" else -p[1], p[0]))
        out.append(CurveSummary(name, len(points), points[0], points[-1], best))
    return out
