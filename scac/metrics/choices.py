"""The choice sets of the metric conventions, and their check: plain data, no numerics.

They live apart from the functions that implement them so that :mod:`scac.metrics.protocols`
(the named presets) loads without numpy or torch: the command line lists the presets in its
``--help``, which must start in a fraction of a second.
"""

from __future__ import annotations

FORMULAS = ("noninterp", "voc2010", "voc2007", "voc2007_py")  # AP: scac.metrics.curve
TIES = ("group", "order")  # tied scores: scac.metrics.ranking
COMPARISONS = (">", ">=")  # score against threshold: scac.metrics.threshold


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
