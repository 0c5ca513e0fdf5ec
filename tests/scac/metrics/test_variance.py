"""Intervals over seeds and images: coverage in simulation, stars that seeds can take away."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scac.metrics.simulation import StudyModel
from scac.metrics.variance import (
    compound_interval,
    holm,
    seed_image_interval,
    seed_image_intervals,
    seeds_needed,
    shared_image_variance,
)


def _pairs(deltas, n=400, c=6, seed=0):
    """Seed-matched pairs on one test set; pair s moves a's positives by ``deltas[s]`` logits."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.uint8)
    base = 1.5 * targets + rng.normal(0, 1, (n, c))
    pairs = []
    for s, d in enumerate(deltas):
        noise = np.random.default_rng([seed, s]).normal(0, 0.05, (n, c))
        pairs.append((base + d * targets + noise, base + noise))
    return pairs, targets


def test_seeds_that_disagree_in_sign_take_the_star_away():
    """The objectness-gated pattern: one seed loses, two win; on these images each seed's
    difference is sure of itself, so the image-only interval excludes 0, but the seeds'
    spread says the next seed may lose."""
    pairs, targets = _pairs([0.6, -0.5, 0.7])
    got = seed_image_intervals(pairs, targets, n_boot=300, score_kind="logit")
    images, both = got["images"], got["seeds+images"]
    assert images.excludes_zero and not both.excludes_zero
    assert both.seeds_disagree and both.seed_variance_known
    assert both.per_seed[1] < 0 < both.per_seed[0]
    assert both.delta == pytest.approx(np.mean(both.per_seed))
    assert 0 < both.p_improve < 1 and both.p_value > 0.05


def test_seeds_that_agree_keep_it():
    pairs, targets = _pairs([0.6, 0.55, 0.65])
    ci = seed_image_interval(pairs, targets, n_boot=300, score_kind="logit")
    assert ci.excludes_zero and not ci.seeds_disagree and ci.p_improve == 1.0


def test_one_seed_cannot_measure_run_to_run_chance():
    pairs, targets = _pairs([0.6])
    ci = seed_image_interval(pairs, targets, n_boot=300, score_kind="logit")
    images = seed_image_interval(pairs, targets, n_boot=300, score_kind="logit", method="images")
    assert not ci.seed_variance_known and (ci.low, ci.high) == (images.low, images.high)


def test_the_compound_interval_is_a_welch_t_interval():
    per_seed, image_var = np.array([3.0, 5.0, 7.0]), 0.5
    delta, low, high, p = compound_interval(per_seed, image_var, 0.95)
    seed_part = 4.0 / 3
    se = np.sqrt(seed_part + image_var)
    df = (seed_part + image_var) ** 2 / (seed_part**2 / 2)
    t = stats.t.ppf(0.975, df)
    assert (delta, low, high) == pytest.approx((5.0, 5 - t * se, 5 + t * se))
    assert p == pytest.approx(2 * stats.t.sf(5 / se, df))


def test_the_shared_image_variance_is_what_seeds_share():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 2.0, 4000)  # the test set's effect, common to every seed
    boot = np.stack([shared + rng.normal(0, 1.0, 4000) for _ in range(3)])
    assert shared_image_variance(boot) == pytest.approx(4.0, rel=0.1)  # not 4 + 1
    assert shared_image_variance(boot[:1]) == pytest.approx(5.0, rel=0.1)


def test_holm_steps_down():
    assert holm([0.01, 0.02, 0.03, 0.5]) == [True, False, False, False]
    assert holm([0.001, 0.03, 0.04]) == [True, False, False]  # 0.03 > 0.05 / 2: stop there
    assert holm([0.001, 0.01, 0.04]) == [True, True, True]  # 0.04 <= 0.05 / 1
    assert holm([None, 0.001]) == [False, True]


def test_seeds_needed_grow_with_the_spread_and_stop_at_the_test_set():
    few = seeds_needed([2.0, 2.5, 3.0], 0.1, 2.5)
    many = seeds_needed([0.0, 2.5, 5.0], 0.1, 2.5)
    assert few is not None and many is not None and few < many
    assert seeds_needed([2.0, 2.5, 3.0], 4.0, 2.5) is None  # the images' own chance is too large
    with pytest.raises(ValueError, match="at least 2 seeds"):
        seeds_needed([1.0], 0.1, 1.0)


def test_bad_arguments_are_named():
    pairs, targets = _pairs([0.5, 0.4])
    with pytest.raises(ValueError, match="method must be one of"):
        seed_image_interval(pairs, targets, method="bayes")
    with pytest.raises(ValueError, match="pairs is empty"):
        seed_image_interval([], targets)
    with pytest.raises(ValueError, match="n_boot"):
        seed_image_interval(pairs, targets, n_boot=1)


def test_coverage_in_simulation():
    """The fast form of ``benchmarks/interval_coverage.py``: with run-to-run chance as large as
    the test set's, the seed-aware interval covers the truth, the image-only one does not."""
    model = StudyModel(run_shift=0.2, pool=6000)
    truth = model.true_difference(runs=60)
    rng = np.random.default_rng(5)
    hits = {"seeds+images": 0, "images": 0}
    studies = 120
    for i in range(studies):
        study = model.study(3, 300, rng)
        got = seed_image_intervals(
            study.pairs, study.targets, methods=tuple(hits), n_boot=150, seed=i,
            score_kind="logit",
        )  # fmt: skip
        for m, ci in got.items():
            hits[m] += ci.low <= truth <= ci.high
    assert hits["seeds+images"] / studies >= 0.9
    assert hits["images"] / studies <= 0.8
