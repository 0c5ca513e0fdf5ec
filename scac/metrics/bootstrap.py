"""Paired bootstrap over images: is the gain of one prediction set over another real?

Both prediction sets are scored on the same resampled images in every replicate (paired), so
the interval reflects how much the *difference* depends on which images were drawn, not the
far larger spread of each metric alone (Efron & Tibshirani 1993, ch. 13; the percentile
interval).

Vectorised: a replicate is the multiplicity of each image in a resample drawn with
replacement, (B, N) weights for a chunk of B replicates at once. AP then needs no re-sorting
(``scac.metrics.ranking``: weighted counts along each class's fixed order are those of the
resampled data, ties and the ``order`` mode included) and the threshold metrics are one matrix
product of the weights with the per-image decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scac.metrics.evaluation import Evaluator
from scac.metrics.protocols import Protocol, get_protocol

# replicates x classes x images per chunk: bounds the (B, C, positives per class) arrays of AP
_CHUNK_ELEMENTS = 1 << 25


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile confidence interval of metric(a) - metric(b), in percent points.

    Attributes:
        metric: the metric's name (``mAP``, ``CF1``, ``OF1_top3`` ...).
        delta: metric(a) - metric(b) on the full sample.
        low: lower end of the interval.
        high: upper end of the interval.
        confidence: the interval's nominal coverage, e.g. 0.95.
        n_boot: bootstrap replicates drawn.
    """

    metric: str
    delta: float
    low: float
    high: float
    confidence: float
    n_boot: int

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of zero: the difference is real."""
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    scores_a: Any,
    scores_b: Any,
    targets: Any,
    mask: Any = None,
    *,
    metric: str = "mAP",
    protocol: str | Protocol = "default",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    score_kind: str = "probability",
) -> BootstrapCI:
    """Confidence interval of the difference in ``metric`` between two prediction sets.

    Args:
        scores_a: (N, C) scores of set a (tensor or numpy array).
        scores_b: (N, C) scores of set b, on the same images in the same order.
        targets: (N, C) 0/1 labels.
        mask: (N, C) bool, False = ignored entry (e.g. VOC difficult); None = all count.
        metric: any name of the protocol's metric set (``Protocol.metric_names()``).
        protocol: a preset name or a ``Protocol``. A class that loses all its positives in a
            replicate is left out of that replicate's mAP unless the protocol counts it as 0.
        n_boot: number of replicates (>= 1).
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the image resampling; equal seeds give equal intervals.
        score_kind: ``probability`` or ``logit``, the scale of both score sets.

    Returns:
        The :class:`BootstrapCI`; ``delta`` and the interval in percent, as ``summarize``.
    """
    p = get_protocol(protocol)
    if metric not in p.metric_names():
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(p.metric_names())}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1; got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    a = Evaluator(scores_a, targets, mask, protocol=p, score_kind=score_kind)
    b = Evaluator(scores_b, targets, mask, protocol=p, score_kind=score_kind)
    if a.scores.shape != b.scores.shape:
        raise ValueError(
            f"scores_a {tuple(a.scores.shape)} and scores_b {tuple(b.scores.shape)} must match"
        )
    delta = 100 * float(a.compute(only=metric)[metric] - b.compute(only=metric)[metric])

    n, c = a.scores.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // (n * c))
    deltas = []
    for start in range(0, n_boot, chunk):  # a loop over chunks of replicates, not replicates
        size = min(chunk, n_boot - start)
        index = rng.integers(0, n, (size, n))  # (B, N) resampled image ids, shared by a and b
        flat = (index + n * np.arange(size)[:, None]).reshape(-1)
        weights = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.int32)
        deltas.append(a.compute(weights, metric)[metric] - b.compute(weights, metric)[metric])
    d = 100 * np.concatenate(deltas)  # (n_boot,)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(d, [alpha, 1 - alpha]).tolist()
    return BootstrapCI(metric, delta, low, high, confidence, n_boot)
