"""How sure is a gain? Intervals over training seeds *and* test images, and the chance to improve.

A comparison of two methods on one test set has two sources of chance we can sample: which
images the test set holds (the paired bootstrap over images, :mod:`scac.metrics.bootstrap`) and
which training run each method happened to be (its seed: initialisation, data order, the
losses' samplers). With a few seeds the second is usually the larger (Bouthillier et al., MLSys
2021, "Accounting for variance in machine learning benchmarks"), and an interval over images
alone says nothing about it: two seeds can disagree in sign under two "significant" intervals.

:func:`seed_image_interval` takes k seed-matched pairs of prediction sets scored on the same
images and gives, for the mean over seeds of the per-seed differences:

* ``seeds+images`` (the default): Δ̄ ± t_ν · sqrt(s²/k + v), where s² is the variance of the k
  per-seed differences (run-to-run chance, with each seed's own luck on these images), v the
  variance the test set adds to every seed alike (the mean covariance of two seeds' differences
  over image resamples, :func:`shared_image_variance`), and ν the Welch-Satterthwaite degrees
  of freedom (the image term counted as known). Chosen by simulation
  (``benchmarks/interval_coverage.py``, docs/intervals.md): it covers the true difference in
  95% ± 2.5% of simulated studies at 3, 5 and 10 seeds;
* ``images``: the percentile interval over images with the seeds averaged, what the toolkit
  showed before: it ignores run-to-run chance, and is named as such;
* ``two-level``: resample the seeds, then the images (kept for comparison: it counts the
  images twice and is too wide, 98-99% coverage).

With one seed there is no run-to-run variance to estimate: the interval is the image-only one
and :attr:`SeedImageCI.seed_variance_known` is False (tables then give no star). The result also
carries the per-seed differences, a p-value (the t statistic's, for Holm's correction over many
arms, :func:`holm`) and :attr:`SeedImageCI.p_improve`: the share of (seed, image resample) draws in
which the arm beats its reference, Bouthillier et al.'s probability of outperforming.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from scac.metrics.evaluation import Evaluator
from scac.metrics.protocols import Protocol, get_protocol

METHODS = ("seeds+images", "images", "two-level")
_CHUNK_ELEMENTS = 1 << 25  # replicates x images x classes per chunk of the image bootstrap


@dataclass(frozen=True)
class SeedImageCI:
    """An interval of metric(a) - metric(b), mean over seed-matched pairs, in percent points.

    Attributes:
        metric: the metric's name.
        method: ``seeds+images``, ``images`` or ``two-level`` (see the module).
        delta: the mean over seeds of the per-seed differences.
        low, high: the interval.
        confidence: its nominal coverage.
        per_seed: each seed's difference, in the pairs' order.
        p_value: two-sided p-value of "no difference": the t statistic's for ``seeds+images``,
            twice the smaller bootstrap tail at 0 for the others (for :func:`holm`).
        p_improve: share of (seed, image resample) draws where a beats b.
        n_boot: image resamples drawn.
        seed_variance_known: False with a single seed (no run-to-run variance to estimate).
        image_variance: the test set's share of the variance: what the seeds' differences
            share across image resamples (their mean covariance; with one seed, its variance).
    """

    metric: str
    method: str
    delta: float
    low: float
    high: float
    confidence: float
    per_seed: tuple[float, ...]
    p_value: float
    p_improve: float
    n_boot: int
    seed_variance_known: bool
    image_variance: float

    @property
    def excludes_zero(self) -> bool:
        """The whole interval on one side of 0."""
        return self.low > 0 or self.high < 0

    @property
    def seeds_disagree(self) -> bool:
        """Some seed's difference has the other sign than another's."""
        return min(self.per_seed) < 0 < max(self.per_seed)


def _resamples(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, n) image multiplicities of ``size`` resamples of n images with replacement."""
    index = rng.integers(0, n, (size, n))
    flat = (index + n * np.arange(size)[:, None]).reshape(-1)
    return np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.int32)


def replicate_metric(
    scores: Any,
    targets: Any,
    mask: Any = None,
    *,
    metric: str = "mAP",
    protocol: str | Protocol = "default",
    n_boot: int = 1000,
    seed: Any = 0,
    score_kind: str = "probability",
) -> tuple[float, np.ndarray]:
    """One prediction set's metric on its sample and on ``n_boot`` resamples of its images,
    in percent points: ``(value, (n_boot,) values)``.

    The resamples depend only on ``seed`` and the number of images, so two sets scored on the
    same images with the same seed are resampled alike (paired), and a set compared with many
    others is resampled once.
    """
    ev = Evaluator(scores, targets, mask, protocol=get_protocol(protocol), score_kind=score_kind)
    n, c = ev.scores.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // (n * c))
    values = [
        ev.compute(_resamples(n, min(chunk, n_boot - start), rng), metric)[metric]
        for start in range(0, n_boot, chunk)
    ]
    return 100 * float(ev.compute(only=metric)[metric]), 100 * np.concatenate(values)


def seed_differences(
    pairs: list[tuple[Any, Any]],
    targets: Any,
    mask: Any,
    protocol: Protocol,
    metric: str,
    n_boot: int,
    seed: int,
    score_kind: str,
) -> tuple[np.ndarray, np.ndarray]:
    """(k,) per-seed differences on the sample, (k, n_boot) on image resamples: shared by the
    seeds when they share one test set, drawn for each pair's own images otherwise."""
    shared = not isinstance(targets, list | tuple)
    targets = [targets] * len(pairs) if shared else list(targets)
    masks = [mask] * len(pairs) if not isinstance(mask, list | tuple) else list(mask)
    if len(targets) != len(pairs) or len(masks) != len(pairs):
        raise ValueError("targets and mask need one entry per pair (or one for all)")
    full, boot = [], []
    for i, ((a, b), t, m) in enumerate(zip(pairs, targets, masks, strict=True)):
        draw = seed if shared else [seed, i]  # one test set: the same resamples for every pair
        options: dict[str, Any] = {"metric": metric, "protocol": protocol, "n_boot": n_boot,
                                   "seed": draw, "score_kind": score_kind}  # fmt: skip
        if np.shape(a) != np.shape(b):
            raise ValueError(f"a pair's scores differ in shape: {np.shape(a)} {np.shape(b)}")
        va, ra = replicate_metric(a, t, m, **options)
        vb, rb = replicate_metric(b, t, m, **options)
        full.append(va - vb)
        boot.append(ra - rb)
    return np.array(full), np.stack(boot)


def shared_image_variance(boot: np.ndarray) -> float:
    """The variance the test set's sampling adds to every seed alike: the mean covariance, over
    image resamples, of two seeds' differences (``boot`` is (k, B)); one seed: its variance.

    The part of a seed's bootstrap variance that it does not share with the other seeds is the
    seed x image interaction, already in the spread of the per-seed differences; counting it
    twice made the interval too wide (98% coverage at 3 seeds, ``benchmarks/interval_coverage.py``).
    """
    ok = ~np.isnan(boot).any(axis=0)
    boot = boot[:, ok]
    k = len(boot)
    if k == 1:
        return float(np.var(boot[0], ddof=1))
    cov = np.cov(boot)  # (k, k)
    shared = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    return max(0.0, float(shared))


def _t_quantile(p: float, df: float) -> float:
    """Student's t quantile (``scipy.special``, not ``scipy.stats``: a tenth of the import)."""
    return float(special.stdtrit(df, p))


def compound_interval(
    per_seed: np.ndarray, image_variance: float, confidence: float
) -> tuple[float, float, float, float]:
    """(delta, low, high, p-value) of ``seeds+images`` from per-seed differences and the
    image bootstrap variance of their mean (see the module)."""
    k = len(per_seed)
    delta = float(np.mean(per_seed))
    seed_part = float(np.var(per_seed, ddof=1)) / k
    se = math.sqrt(seed_part + image_variance)
    if se == 0:
        return delta, delta, delta, (0.0 if delta != 0 else 1.0)
    df = (seed_part + image_variance) ** 2 / (seed_part**2 / (k - 1)) if seed_part > 0 else 1e9
    t = _t_quantile(0.5 + confidence / 2, df)
    p = float(2 * special.stdtr(df, -abs(delta) / se))  # two-sided tail of Student's t
    return delta, delta - t * se, delta + t * se, p


def seed_image_interval(
    pairs: list[tuple[Any, Any]],
    targets: Any,
    mask: Any = None,
    *,
    metric: str = "mAP",
    protocol: str | Protocol = "default",
    method: str = "seeds+images",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    score_kind: str = "probability",
) -> SeedImageCI:
    """The interval of the mean difference in ``metric`` over seed-matched pairs of predictions.

    Args:
        pairs: k pairs ``(scores_a, scores_b)``, each (N, C), one per seed; a and b of a pair
            on the same images in the same order.
        targets: (N, C) 0/1 labels shared by every pair (one test set: the image resamples
            are shared too), or a list of one per pair (their own images, resampled apart).
        mask: (N, C) bool, False = ignored entry, or a list of one per pair; None = all count.
        metric: any name of the protocol's metric set.
        protocol: a preset name or a ``Protocol``.
        method: ``seeds+images``, ``images`` or ``two-level``.
        n_boot: image resamples (>= 2).
        confidence: coverage, in (0, 1).
        seed: seed of the resampling.
        score_kind: ``probability`` or ``logit``, the scale of every score set.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return seed_image_intervals(
        pairs, targets, mask, metric=metric, protocol=protocol, methods=(method,),
        n_boot=n_boot, confidence=confidence, seed=seed, score_kind=score_kind,
    )[method]  # fmt: skip


def seed_image_intervals(
    pairs: list[tuple[Any, Any]],
    targets: Any,
    mask: Any = None,
    *,
    metric: str = "mAP",
    protocol: str | Protocol = "default",
    methods: tuple[str, ...] = METHODS,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    score_kind: str = "probability",
) -> dict[str, SeedImageCI]:
    """:func:`seed_image_interval` by several methods from one set of image resamples."""
    p = get_protocol(protocol)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {unknown[0]!r}")
    if metric not in p.metric_names():
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(p.metric_names())}")
    if not pairs:
        raise ValueError("pairs is empty: at least one seed-matched pair of prediction sets")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    full, boot = seed_differences(pairs, targets, mask, p, metric, n_boot, seed, score_kind)
    return {m: from_differences(full, boot, m, metric, confidence, seed) for m in methods}


def from_differences(
    full: np.ndarray,
    boot: np.ndarray,
    method: str,
    metric: str = "mAP",
    confidence: float = 0.95,
    seed: int = 0,
) -> SeedImageCI:
    """An interval from per-seed differences: ``full`` (k,) on the sample and ``boot`` (k, B) on
    B image resamples shared by the seeds, in percent points."""
    k, n_boot = boot.shape
    mean_boot = np.nanmean(boot, axis=0)  # (B,) the seed-averaged difference per resample
    image_variance = shared_image_variance(boot)
    alpha = (1 - confidence) / 2
    p_improve = float(np.mean(boot > 0))
    known = k > 1
    delta = float(np.mean(full))
    if method == "seeds+images" and known:
        delta, low, high, p_value = compound_interval(full, image_variance, confidence)
    elif method == "two-level" and known:
        rng = np.random.default_rng([seed, 1])
        picks = rng.integers(0, k, (n_boot, k))  # seeds drawn with replacement, per resample
        resampled = np.nanmean(boot[picks, np.arange(n_boot)[:, None]], axis=1)
        low, high = np.nanquantile(resampled, [alpha, 1 - alpha]).tolist()
        p_value = _bootstrap_p(resampled)
    else:  # images only (or one seed, where nothing else is known)
        low, high = np.nanquantile(mean_boot, [alpha, 1 - alpha]).tolist()
        p_value = _bootstrap_p(mean_boot)
    return SeedImageCI(
        metric, method, delta, float(low), float(high), confidence,
        tuple(float(x) for x in full), p_value, p_improve, n_boot, known, image_variance,
    )  # fmt: skip


def _bootstrap_p(replicates: np.ndarray) -> float:
    """Two-sided p-value of 0 from bootstrap replicates: twice the smaller tail at 0."""
    values = replicates[~np.isnan(replicates)]
    tail = min(np.mean(values <= 0), np.mean(values >= 0)) if len(values) else 1.0
    return float(min(1.0, 2 * tail))


def holm(p_values: list[float | None], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down test over a family of comparisons: which are significant at ``alpha``
    (family-wise). A None p-value (nothing to test) is never significant and not counted."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out = [False] * len(p_values)
    m = len(tested)
    for rank, (p, i) in enumerate(tested):
        if p > alpha / (m - rank):
            break
        out[i] = True
    return out


def seeds_needed(
    per_seed: np.ndarray | Sequence[float],
    image_variance: float,
    difference: float,
    confidence: float = 0.95,
    most: int = 100,
) -> int | None:
    """The fewest seeds whose ``seeds+images`` interval around ``difference`` would exclude 0,
    at the run-to-run variance measured in ``per_seed``; None when even ``most`` seeds would not
    (the test set's own variance is then too large: more images are needed, not more seeds).
    """
    per_seed = np.asarray(per_seed, dtype=float)
    if len(per_seed) < 2:
        raise ValueError("per_seed needs at least 2 seeds to estimate run-to-run variance")
    var = float(np.var(per_seed, ddof=1))
    for k in range(2, most + 1):
        seed_part = var / k
        se = math.sqrt(seed_part + image_variance)
        df = (seed_part + image_variance) ** 2 / (seed_part**2 / (k - 1)) if seed_part else 1e9
        if se == 0 or abs(difference) > _t_quantile(0.5 + confidence / 2, df) * se:
            return k
    return None
