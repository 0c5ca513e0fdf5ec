"""Paired bootstrap comparisons of runs: is one set of runs better than another on the same images?

Seed-matched runs (arm seed s against reference seed s) are scored on the same images, so the
interval says whether a gain depends on which images were drawn (:func:`compare_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.comparison_cache import comparison_key, read, write
from bench.store import RunRecord
from scac.metrics import BootstrapCI, paired_bootstrap
from scac.predictions import Predictions


@dataclass(frozen=True)
class Comparison:
    """A paired bootstrap of one set of runs against a reference set.

    Attributes:
        ci: the interval of metric(runs) - metric(reference), or None when it could not be
            computed (``reason`` says why).
        seeds: the seeds of the matched pairs that were pooled (None for runs outside studies).
        pooling: ``classes`` when the pairs share the same images (their columns side by side:
            mAP, CP and CR are then exactly the means over seeds; CF1 and the overall metrics
            are those of the pooled decisions), ``images`` when they do not (their images
            stacked), ``single`` for one pair.
        reason: why there is no interval.
    """

    ci: BootstrapCI | None
    seeds: tuple[int | None, ...] = ()
    pooling: str = ""
    reason: str = ""

    def text(self) -> str:
        """``+3.5 [+1.2, +5.8]*`` (the star when the interval excludes 0), or ``n/a``."""
        if self.ci is None:
            return "n/a"
        c = self.ci
        star = "*" if c.excludes_zero else ""
        return f"{c.delta:+.1f} [{c.low:+.1f}, {c.high:+.1f}]{star}"


def _seed(run: RunRecord) -> int | None:
    seed = run.config.get("seed") if run.config else None
    return int(seed) if seed is not None else None


def _predictions(run: RunRecord) -> Predictions | None:
    """A run's stored predictions; None when it has none (or an unreadable file)."""
    path = Path(run.artifacts or "") / "predictions.npz"
    try:
        return Predictions.load(path) if run.artifacts else None
    except (FileNotFoundError, ValueError):
        return None


def compare_runs(
    runs: list[RunRecord],
    reference: list[RunRecord],
    *,
    metric: str = "mAP",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cache: Path | None = None,
) -> Comparison:
    """Paired bootstrap of ``runs`` against ``reference``, seed-matched and pooled.

    A single run against a single run is one pair, whatever their seeds. Otherwise run seed s
    pairs with reference seed s; seeds present on one side only are left out. The pairs are
    pooled into one paired sample: side by side as extra classes when every pair has the same
    images in the same order (then the mAP of the pool is the mean of the per-seed mAPs, and
    each bootstrap replicate resamples the images once for all seeds), else stacked as extra
    images. The runs' own metric protocol is used.

    Args:
        runs: the runs of the arm (one per seed).
        reference: the runs of the reference arm.
        metric: the metric compared (any name of the protocol's metric set).
        n_boot: bootstrap replicates.
        confidence: coverage of the interval.
        seed: seed of the image resampling.
        cache: a folder where intervals are kept under a hash of their inputs
            (:mod:`bench.comparison_cache`), or None to compute every time.
    """
    if len(runs) == 1 and len(reference) == 1:
        pairs = [(runs[0], reference[0])]
    else:
        ref_by_seed = {_seed(r): r for r in reference}
        pairs = [(r, ref_by_seed[_seed(r)]) for r in runs if _seed(r) in ref_by_seed]
    if not pairs:
        return Comparison(None, reason="no seed-matched pair of runs")
    settings = {"metric": metric, "n_boot": n_boot, "confidence": confidence, "seed": seed}
    settings["protocol"] = pairs[0][0].protocol or "default"
    key = None
    if cache is not None:
        both = [r for pair in pairs for r in pair]
        files = [(r.run_key, Path(r.artifacts or "") / "predictions.npz") for r in both]
        key = comparison_key(files, settings) if all(r.artifacts for r in both) else None
        stored = read(cache, key) if key else None
        if stored is not None:
            return Comparison(*stored)
    loaded = []
    for a, b in pairs:
        pa, pb = _predictions(a), _predictions(b)
        if pa is None or pb is None:
            missing = a if pa is None else b
            return Comparison(
                None, reason=f"run {missing.run_key[:10]} has no readable predictions.npz"
            )
        if pa.classes != pb.classes or not np.array_equal(pa.image_ids, pb.image_ids):
            return Comparison(None, reason="the runs were not scored on the same images")
        loaded.append((pa, pb))
    seeds = tuple(_seed(a) for a, _ in pairs)
    protocol = pairs[0][0].protocol or "default"
    same_images = all(np.array_equal(pa.image_ids, loaded[0][0].image_ids) for pa, _ in loaded)
    axis, pooling = (1, "classes") if same_images else (0, "images")
    if len(loaded) == 1:
        pooling = "single"
    # logits when every file has them (exact order, as the run's own metrics), else probabilities
    kind = "best" if all(p.logits is not None for pair in loaded for p in pair) else "probability"
    try:
        ci = paired_bootstrap(
            np.concatenate([pa.values(kind)[0] for pa, _ in loaded], axis=axis),
            np.concatenate([pb.values(kind)[0] for _, pb in loaded], axis=axis),
            np.concatenate([pa.targets for pa, _ in loaded], axis=axis),
            np.concatenate([pa.mask for pa, _ in loaded], axis=axis),
            metric=metric,
            protocol=protocol,
            n_boot=n_boot,
            confidence=confidence,
            seed=seed,
            score_kind=loaded[0][0].values(kind)[1],
        )
    except ValueError as err:  # e.g. a metric the protocol does not compute
        return Comparison(None, seeds, pooling, reason=str(err))
    if key is not None:
        write(cache, key, ci, seeds, pooling)
    return Comparison(ci, seeds, pooling)
