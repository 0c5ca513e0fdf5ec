"""Comparisons of runs: is one arm better than another, counting seeds as well as images?

Seed-matched runs (arm seed s against reference seed s) are scored on the same images; the
interval of the mean per-seed difference counts run-to-run chance (the spread of the seeds'
differences) and the test set's (a bootstrap over images), :mod:`scac.metrics.variance`. The
image-only interval of earlier versions stays available as ``method="images"``.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.comparisons.cache import comparison_key, read, write
from bench.store import RunRecord
from scac.metrics.variance import METHODS, SeedImageCI, from_differences, holm, replicate_metric
from scac.predictions import Predictions

INTERVALS = {
    "seeds+images": "95% interval over seeds and images (t, Welch-Satterthwaite)",
    "images": "95% interval over images only (seeds averaged): it leaves out run-to-run chance",
    "two-level": "95% two-level bootstrap (seeds, then images)",
}


@dataclass(frozen=True)
class Comparison:
    """An arm's runs against its reference's, seed by seed.

    Attributes:
        ci: the interval of the mean per-seed difference, or None when it could not be
            computed (``reason`` says why).
        seeds: the seeds of the matched pairs.
        reason: why there is no interval.
        star: whether the difference counts as real: the interval excludes 0, the seeds'
            variance is known (two seeds or more) and, in a family of comparisons, Holm's
            correction keeps it (:func:`with_holm`).
    """

    ci: SeedImageCI | None
    seeds: tuple[int | None, ...] = ()
    reason: str = ""
    star: bool = False

    def text(self) -> str:
        """``+3.5 [+1.2, +5.8]*`` (``*`` when :attr:`star`), or ``n/a``."""
        if self.ci is None:
            return "n/a"
        c = self.ci
        return f"{c.delta:+.1f} [{c.low:+.1f}, {c.high:+.1f}]{'*' if self.star else ''}"

    def per_seed_text(self) -> str:
        """Each seed's difference: ``s0 +7.1, s1 +8.0, s2 -0.4``."""
        if self.ci is None:
            return "n/a"
        return ", ".join(
            f"s{s} {d:+.1f}" if s is not None else f"{d:+.1f}"
            for s, d in zip(self.seeds, self.ci.per_seed, strict=True)
        )


def with_holm(comparisons: dict, alpha: float = 0.05) -> dict:
    """The comparisons of one family (a study's arms against their references), each starred
    only if Holm's step-down correction over the family keeps it at ``alpha``."""
    names = [n for n, c in comparisons.items() if c.ci is not None and _testable(c.ci)]
    keep = holm([comparisons[n].ci.p_value for n in names], alpha)
    kept = {n for n, k in zip(names, keep, strict=True) if k}
    return {
        n: Comparison(c.ci, c.seeds, c.reason, n in kept and c.ci.excludes_zero)
        for n, c in comparisons.items()
    }


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


# image resamples by interval: the seeds+images interval needs the images' variance, which 300
# resamples estimate to about 8%; the percentile intervals need their tails, for which 1,000
DEFAULT_BOOT = {"seeds+images": 300, "images": 1000, "two-level": 1000}

# (run key, predictions file, settings, draw) -> (value, resampled values, image ids digest);
# a reference compared with several arms is resampled once per process
_REPLICATES: dict[tuple, tuple[float, np.ndarray, str]] = {}


def _memo_key(run: RunRecord, settings: dict, draw) -> tuple | None:
    """The key of a run's replicates: its file as it is now, the settings and the draw."""
    try:
        st = (Path(run.artifacts or "") / "predictions.npz").stat()
    except OSError:
        return None
    return (run.run_key, st.st_size, st.st_mtime_ns, json.dumps([settings, draw], default=str))


def _replicates(
    run: RunRecord, settings: dict, draw, loaded: dict
) -> tuple[float, np.ndarray, str] | str:
    """A run's metric on its images and on the resamples ``draw`` names, memoised; a string
    says why there is none (no readable predictions)."""
    key = _memo_key(run, settings, draw)
    if key is None:
        return f"run {run.run_key[:10]} has no readable predictions.npz"
    if key not in _REPLICATES:
        pred = loaded.get(run.run_key) or _predictions(run)
        if pred is None:
            return f"run {run.run_key[:10]} has no readable predictions.npz"
        loaded[run.run_key] = pred
        values, score_kind = pred.values(settings["kind"])
        value, reps = replicate_metric(
            values, pred.targets, pred.mask, metric=settings["metric"],
            protocol=settings["protocol"], n_boot=settings["n_boot"], seed=draw,
            score_kind=score_kind,
        )  # fmt: skip
        ids = hashlib.sha256(pred.image_ids.tobytes() + "|".join(pred.classes).encode())
        if len(_REPLICATES) > 20_000:
            _REPLICATES.clear()
        _REPLICATES[key] = (value, reps, ids.hexdigest())
    return _REPLICATES[key]


@dataclass
class _Prepared:
    """A comparison ready to compute: its pairs, settings, replicate settings and draws."""

    pairs: list[tuple[RunRecord, RunRecord]]
    settings: dict
    replicate_settings: dict
    draws: list
    key: str | None


def _prepare(
    runs: list[RunRecord],
    reference: list[RunRecord],
    options: dict,
    cache: Path | None,
    loaded: dict,
) -> _Prepared | Comparison:
    """Pair the runs, check the comparison cache and load the predictions: a
    :class:`Comparison` when that already answers (cached, or why there is none)."""
    metric, method = options["metric"], options["method"]
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    n_boot = options["n_boot"] or DEFAULT_BOOT[method]
    if len(runs) == 1 and len(reference) == 1:
        pairs = [(runs[0], reference[0])]
    else:
        ref_by_seed = {_seed(r): r for r in reference}
        pairs = [(r, ref_by_seed[_seed(r)]) for r in runs if _seed(r) in ref_by_seed]
    if not pairs:
        return Comparison(None, reason="no seed-matched pair of runs")
    protocol = pairs[0][0].protocol or "default"
    settings = {"metric": metric, "method": method, "n_boot": n_boot,
                "confidence": options["confidence"], "seed": options["seed"],
                "protocol": protocol}  # fmt: skip
    key = None
    if cache is not None:
        both = [r for pair in pairs for r in pair]
        files = [(r.run_key, Path(r.artifacts or "") / "predictions.npz") for r in both]
        key = comparison_key(files, settings) if all(r.artifacts for r in both) else None
        stored = read(cache, key) if key else None
        if stored is not None:
            return _starred(*stored)
    # logits when every file has them (exact order, as the run's own metrics), else probabilities
    kind = "best"
    for r in (r for pair in pairs for r in pair):
        pred = _predictions(r) if r.run_key not in loaded else loaded[r.run_key]
        if pred is None:
            return Comparison(None, reason=f"run {r.run_key[:10]} has no readable predictions.npz")
        loaded[r.run_key] = pred
        kind = kind if pred.logits is not None else "probability"
    replicate_settings = {"metric": metric, "protocol": protocol, "n_boot": n_boot, "kind": kind}
    images = {r.run_key: loaded[r.run_key].image_ids for pair in pairs for r in pair}
    first = images[pairs[0][0].run_key]
    shared = all(np.array_equal(images[a.run_key], first) for a, _ in pairs)
    seed = options["seed"]
    draws = [seed if shared else [seed, i] for i in range(len(pairs))]
    return _Prepared(pairs, settings, replicate_settings, draws, key)


def _compute(prepared: _Prepared, cache: Path | None, loaded: dict) -> Comparison:
    """The interval of a prepared comparison (its runs' replicates memoised)."""
    pairs, settings = prepared.pairs, prepared.settings
    full, boot = [], []
    try:
        for (a, b), draw in zip(pairs, prepared.draws, strict=True):
            ra = _replicates(a, prepared.replicate_settings, draw, loaded)
            rb = _replicates(b, prepared.replicate_settings, draw, loaded)
            if isinstance(ra, str) or isinstance(rb, str):
                return Comparison(None, reason=ra if isinstance(ra, str) else str(rb))
            if ra[2] != rb[2]:
                return Comparison(None, reason="the runs were not scored on the same images")
            full.append(ra[0] - rb[0])
            boot.append(ra[1] - rb[1])
    except ValueError as err:  # e.g. a metric the protocol does not compute
        return Comparison(None, tuple(_seed(a) for a, _ in pairs), reason=str(err))
    seeds = tuple(_seed(a) for a, _ in pairs)
    ci = from_differences(np.array(full), np.stack(boot), settings["method"],
                          settings["metric"], settings["confidence"], settings["seed"])  # fmt: skip
    if prepared.key is not None and cache is not None:
        write(cache, prepared.key, ci, seeds)
    return _starred(ci, seeds)


def compare_runs(
    runs: list[RunRecord],
    reference: list[RunRecord],
    *,
    metric: str = "mAP",
    method: str = "seeds+images",
    n_boot: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    cache: Path | None = None,
) -> Comparison:
    """``runs`` against ``reference``, seed-matched (``scac.metrics.variance``).

    A single run against a single run is one pair, whatever their seeds. Otherwise run seed s
    pairs with reference seed s; seeds present on one side only are left out. A pair's runs
    must be scored on the same images; pairs on other images are resampled apart. The runs' own
    metric protocol is used. The comparison is starred when its interval excludes 0 and the
    seeds' variance is known; a table of several arms then applies :func:`with_holm`.

    Args:
        runs: the runs of the arm (one per seed).
        reference: the runs of the reference arm.
        metric: the metric compared (any name of the protocol's metric set).
        method: ``seeds+images`` (default), ``images`` or ``two-level``.
        n_boot: image resamples (default :data:`DEFAULT_BOOT` of the method).
        confidence: coverage of the interval.
        seed: seed of the resampling.
        cache: a folder where comparisons are kept under a hash of their inputs
            (:mod:`bench.comparisons.cache`), or None to compute every time.
    """
    return compare_many({0: (runs, reference)}, metric=metric, method=method, n_boot=n_boot,
                        confidence=confidence, seed=seed, cache=cache, workers=1)[0]  # fmt: skip


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compare_many(
    jobs: dict,
    *,
    metric: str = "mAP",
    method: str = "seeds+images",
    n_boot: int | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    cache: Path | None = None,
    workers: int | None = None,
) -> dict:
    """:func:`compare_runs` of every ``{name: (runs, reference)}``, the same numbers, faster:
    each run's image resamples are drawn once (a reference shared by many arms too) and the
    runs are resampled in ``workers`` threads (default: one per core; numpy's sorting,
    gathering and sums release the interpreter lock).
    """
    options = {"metric": metric, "method": method, "n_boot": n_boot,
               "confidence": confidence, "seed": seed}  # fmt: skip
    loaded: dict[str, Predictions] = {}
    prepared = {name: _prepare(runs, ref, options, cache, loaded)
                for name, (runs, ref) in jobs.items()}  # fmt: skip
    tasks: dict[tuple, tuple] = {}
    for p in prepared.values():
        if isinstance(p, _Prepared):
            for pair, draw in zip(p.pairs, p.draws, strict=True):
                for run in pair:
                    key = _memo_key(run, p.replicate_settings, draw)
                    if key is not None and key not in _REPLICATES:
                        tasks.setdefault(key, (run, p.replicate_settings, draw))
    threads = min(workers or _cores(), len(tasks))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            # a ValueError (a metric the protocol lacks) is raised again, and caught, below
            list(pool.map(lambda t: _try(_replicates, *t, loaded), tasks.values()))
    return {name: p if isinstance(p, Comparison) else _compute(p, cache, loaded)
            for name, p in prepared.items()}  # fmt: skip


def _try(fn, *args):
    try:
        return fn(*args)
    except ValueError as err:
        return str(err)


def _testable(ci: SeedImageCI) -> bool:
    """Whether an interval can earn a star: it counts seeds (and there are two or more), or it
    is the image-only interval, asked for by name."""
    return ci.seed_variance_known or ci.method == "images"


def _starred(ci: SeedImageCI, seeds: tuple) -> Comparison:
    """A comparison, starred by its own interval (before any correction for many arms)."""
    return Comparison(ci, seeds, star=ci.excludes_zero and _testable(ci))
