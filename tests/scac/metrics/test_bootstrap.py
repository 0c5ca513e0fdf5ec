"""Paired bootstrap: a replicate is an exact resample, the interval behaves, bad input raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scac.metrics import BootstrapCI, average_precision, evaluate, paired_bootstrap
from scac.metrics.evaluation import Evaluator
from scac.metrics.inputs import check_inputs
from scac.metrics.ranking import RankedPositives


def _problem(n=300, c=6, seed=0, levels=20):
    """Tied scores (``levels`` distinct values), ~20% positives, a few ignored entries."""
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, c, generator=g) < 0.2).double()
    noise = torch.randint(0, levels, (n, c), generator=g).double() / levels
    scores = (0.5 * targets + noise).clamp(0, 1)
    mask = torch.rand(n, c, generator=g) > 0.05
    return scores, targets, mask, g


def _weights(g, b, n):
    index = torch.randint(0, n, (b, n), generator=g)
    weights = np.zeros((b, n), np.int32)
    for i in range(b):
        np.add.at(weights[i], index[i].numpy(), 1)
    return index, weights


@pytest.mark.parametrize("formula", ["noninterp", "voc2010", "voc2007", "voc2007_py"])
@pytest.mark.parametrize("ties", ["group", "order"])
def test_weighted_ap_equals_ap_of_the_explicit_resample(formula, ties):
    scores, targets, mask, g = _problem()
    index, weights = _weights(g, 4, 300)
    ranked = RankedPositives(*check_inputs(scores, targets, mask), ties)
    weighted = ranked.ap(formula, weights)  # (4, C)
    for b in range(4):
        rows = index[b].sort().values  # a resample is a multiset: images in id order
        ref = average_precision(scores[rows], targets[rows], mask[rows], formula=formula, ties=ties)
        np.testing.assert_allclose(weighted[b], ref.numpy(), atol=1e-9, rtol=0)


@pytest.mark.parametrize("formula", ["noninterp", "voc2010", "voc2007", "voc2007_py"])
@pytest.mark.parametrize("ties", ["group", "order"])
def test_unit_weights_reproduce_the_unweighted_ap(formula, ties):
    scores, targets, mask, _ = _problem()
    ranked = RankedPositives(*check_inputs(scores, targets, mask), ties)
    ones = np.ones((1, 300), np.int32)
    np.testing.assert_allclose(ranked.ap(formula, ones)[0], ranked.ap(formula), atol=1e-12)


def test_weighted_threshold_counts_equal_those_of_the_explicit_resample():
    scores, targets, mask, g = _problem()
    index, weights = _weights(g, 1, 300)
    ev = Evaluator(scores, targets, mask)
    rows = index[0]
    ref = Evaluator(scores[rows], targets[rows], mask[rows]).compute()
    got = ev.compute(weights)
    for k in ("CP", "CF1_mean_f1", "OF1", "CR_top3", "OF1_top3"):
        assert got[k][0] == pytest.approx(float(ref[k]), abs=1e-12), k


def test_identical_inputs_give_zero_delta_and_an_interval_around_zero():
    scores, targets, mask, _ = _problem()
    ci = paired_bootstrap(scores, scores.clone(), targets, mask, n_boot=50)
    assert ci.delta == 0.0 and ci.low <= 0.0 <= ci.high and not ci.excludes_zero


def test_a_clear_improvement_excludes_zero_and_the_interval_holds_delta():
    scores, targets, mask, g = _problem(n=400)
    worse = (scores + 0.8 * torch.rand(scores.shape, generator=g)).clamp(0, 1)
    ci = paired_bootstrap(scores, worse, targets, mask, n_boot=300)
    assert isinstance(ci, BootstrapCI) and ci.metric == "mAP" and ci.n_boot == 300
    full = evaluate(scores, targets, mask).metrics["mAP"]
    assert ci.delta == pytest.approx(full - evaluate(worse, targets, mask).metrics["mAP"])
    assert ci.delta > 0 and ci.low <= ci.delta <= ci.high and ci.excludes_zero
    flipped = paired_bootstrap(worse, scores, targets, mask, n_boot=300)
    assert flipped.delta == pytest.approx(-ci.delta) and flipped.high < 0


def test_a_small_noisy_difference_does_not_exclude_zero():
    scores, targets, mask, g = _problem(n=200, seed=3)
    a = (scores + 0.3 * torch.rand(scores.shape, generator=g)).clamp(0, 1)
    b = (scores + 0.3 * torch.rand(scores.shape, generator=g)).clamp(0, 1)
    ci = paired_bootstrap(a, b, targets, mask, n_boot=300)
    assert ci.low < ci.delta < ci.high and not ci.excludes_zero


def test_seeded_runs_are_reproducible_and_numpy_inputs_work():
    scores, targets, mask, g = _problem()
    other = (scores + 0.3 * torch.rand(scores.shape, generator=g)).clamp(0, 1)
    first = paired_bootstrap(scores, other, targets, mask, n_boot=100, seed=7)
    again = paired_bootstrap(
        scores.numpy(), other.numpy(), targets.numpy(), mask.numpy(), n_boot=100, seed=7
    )
    assert first == again
    assert paired_bootstrap(scores, other, targets, mask, n_boot=100, seed=8) != first


@pytest.mark.parametrize("metric", ["CF1", "OF1", "CF1_mean_f1", "CP_top3", "OF1_top3"])
def test_any_metric_of_the_set(metric):
    scores, targets, mask, g = _problem()
    worse = (scores + 0.6 * torch.rand(scores.shape, generator=g)).clamp(0, 1)
    ci = paired_bootstrap(scores, worse, targets, mask, metric=metric, n_boot=200)
    full = (
        evaluate(scores, targets, mask).metrics[metric]
        - evaluate(worse, targets, mask).metrics[metric]
    )
    assert ci.metric == metric and ci.delta == pytest.approx(full)
    assert ci.low <= ci.delta <= ci.high


def test_a_rare_class_lost_in_a_replicate_does_not_raise_under_a_raising_protocol():
    scores, targets, mask, _ = _problem()
    targets[:, 0] = 0
    targets[5, 0] = 1  # one positive: many replicates lose it
    ci = paired_bootstrap(scores, scores.flip(0), targets, protocol="mlgcn", n_boot=100)
    assert np.isfinite([ci.low, ci.high]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "AUC"}, "unknown metric 'AUC'; known: mAP, CP"),
        ({"protocol": "voc"}, "unknown metric protocol 'voc'; known: asl, default"),
        ({"n_boot": 0}, "n_boot must be an integer >= 1"),
        ({"confidence": 1.0}, r"confidence must be in \(0, 1\)"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    scores, targets, mask, _ = _problem(n=20)
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(scores, scores, targets, mask, **kwargs)


def test_mismatched_prediction_sets_raise():
    scores, targets, mask, _ = _problem(n=20)
    with pytest.raises(ValueError, match="must be equal"):
        paired_bootstrap(scores, scores[:10], targets, mask)
