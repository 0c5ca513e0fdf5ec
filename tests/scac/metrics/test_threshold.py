"""Threshold and top-k metrics: torchmetrics parity, both CF1 conventions, top-k by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import (
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)

from scac.metrics import threshold_metrics, topk_metrics
from scac.metrics.threshold import top_k


def _problem(n=300, c=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, c, generator=g) < 0.25).double()
    scores = (0.35 * targets + 0.7 * torch.rand(n, c, generator=g)).clamp(0, 1)
    scores[:, -1] = 0.1  # a class never predicted: 0/0 precision
    targets[:, -2] = 0  # a class without positives: 0/0 recall
    mask = torch.rand(n, c, generator=g) > 0.1
    return scores, targets, mask


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_matches_torchmetrics_macro_and_micro_with_ignore_index(zero_division):
    scores, targets, mask = _problem()
    tm_target = torch.where(mask, targets, torch.full_like(targets, -1)).long()
    kw = {"num_labels": 8, "threshold": 0.5, "ignore_index": -1, "zero_division": zero_division}
    ours = threshold_metrics(scores, targets, mask, 0.5, zero_division=zero_division)
    for key, fn, average in [
        ("CP", multilabel_precision, "macro"),
        ("CR", multilabel_recall, "macro"),
        ("CF1_mean_f1", multilabel_f1_score, "macro"),
        ("OP", multilabel_precision, "micro"),
        ("OR", multilabel_recall, "micro"),
        ("OF1", multilabel_f1_score, "micro"),
    ]:
        ref = fn(scores.float(), tm_target, average=average, **kw).item()
        assert ours[key] == pytest.approx(ref, abs=1e-6), key


def test_both_cf1_conventions_and_the_counts_by_hand():
    scores = torch.tensor([[0.9, 0.6, 0.1], [0.4, 0.7, 0.8], [0.6, 0.2, 0.3]])
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    m = threshold_metrics(scores, targets)
    # per class: TP (1, 1, 1), predicted (2, 2, 1), true (2, 1, 2)
    p, r = torch.tensor([1 / 2, 1 / 2, 1.0]), torch.tensor([1 / 2, 1.0, 1 / 2])
    cp, cr = p.mean().item(), r.mean().item()
    assert m["CF1"] == m["CF1_harmonic"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert m["CF1_mean_f1"] == pytest.approx((2 * p * r / (p + r)).mean().item())
    assert m["CF1_mean_f1"] != pytest.approx(m["CF1_harmonic"])


def test_comparison_decides_the_boundary():
    scores = torch.tensor([[0.5, 0.2], [0.9, 0.5]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    strict = threshold_metrics(scores, targets, comparison=">")
    assert strict["OR"] == pytest.approx(1 / 3)  # only 0.9 passes
    loose = threshold_metrics(scores, targets, comparison=">=")
    assert loose["OR"] == pytest.approx(1.0) and loose["OP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="comparison must be one of >, >=; got '=>'"):
        threshold_metrics(scores, targets, comparison="=>")


def test_zero_division_by_hand():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2]])  # class 1 never predicted
    targets = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    zero = threshold_metrics(scores, targets, zero_division=0.0)
    one = threshold_metrics(scores, targets, zero_division=1.0)
    assert zero["CP"] == pytest.approx((1 / 2 + 0) / 2)
    assert one["CP"] == pytest.approx((1 / 2 + 1) / 2)
    assert zero["CF1_mean_f1"] == one["CF1_mean_f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_top_k_with_and_without_the_threshold_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.3, 0.1], [0.2, 0.4, 0.45, 0.6]])
    targets = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    # top-2: image 0 predicts {0, 1}, image 1 {3, 2}; with the threshold 0.5, {0, 1} and {3}
    free = topk_metrics(scores, targets, k=2)
    assert free["OP"] == pytest.approx(2 / 4) and free["OR"] == pytest.approx(2 / 3)
    gated = topk_metrics(scores, targets, k=2, threshold=0.5)
    assert gated["OP"] == pytest.approx(2 / 3) and gated["OR"] == pytest.approx(2 / 3)
    # per class precision (1, 0, 0 or 0/0, 1): class 2 is predicted only without the gate
    assert free["CP"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert gated["CP"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    assert free["CR"] == gated["CR"] == pytest.approx((1 + 0 + 0 + 1) / 4)
    with pytest.raises(ValueError, match="top-k needs 1 <= k <= C = 4; got k=5"):
        topk_metrics(scores, targets, k=5)


@pytest.mark.parametrize("k", [1, 3, 8, 9, 20])
def test_top_k_breaks_ties_by_class_index_like_a_stable_sort(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, (200, 24)).astype(np.float32)  # many ties at the k-th place
    stable = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected = np.zeros(scores.shape, bool)
    np.put_along_axis(expected, stable, True, axis=1)
    chosen = top_k(scores, k)
    assert (chosen.sum(1) == k).all() and np.array_equal(chosen, expected)


def test_ignored_entries_are_left_out_of_the_counts():
    scores = torch.tensor([[0.9, 0.9], [0.9, 0.1]])
    targets = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    mask = torch.tensor([[False, True], [True, True]])  # the false positive is ignored
    assert threshold_metrics(scores, targets)["OP"] == pytest.approx(2 / 3)
    assert threshold_metrics(scores, targets, mask)["OP"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("scores", "targets", "mask", "message"),
    [
        (torch.zeros(3, 2), torch.zeros(3, 3), None, "must be equal"),
        (torch.tensor([[float("inf")]]), torch.zeros(1, 1), None, "NaN or infinite"),
        (torch.zeros(2, 2), -torch.ones(2, 2), None, "targets must be 0 or 1"),
        (torch.zeros(2, 2), torch.zeros(2, 2), torch.ones(2, 1, dtype=torch.bool), "mask"),
        (torch.zeros(2, 2), torch.zeros(2, 2), torch.full((2, 2), 2), "mask must be bool"),
        (torch.zeros(0, 2), torch.zeros(0, 2), None, "no images"),
    ],
)
def test_bad_input_raises(scores, targets, mask, message):
    with pytest.raises(ValueError, match=message):
        threshold_metrics(scores, targets, mask)


def test_nonsense_arguments_are_named():
    """Issue 33: a NaN threshold returned zeros, a wrong class_groups a made-up group mAP, and
    bfloat16 scores failed inside torch; each argument is now checked and named."""
    import torch

    from scac.metrics import evaluate

    scores = torch.tensor([[0.9, 0.1, 0.6], [0.2, 0.8, 0.4]])
    targets = torch.tensor([[1, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        threshold_metrics(scores, targets, threshold=float("nan"))
    with pytest.raises(ValueError, match="class_groups has 2 entries for 3 classes"):
        evaluate(scores, targets, class_groups=["a", "b"])
    with pytest.raises(ValueError, match="class_groups must be a list"):
        evaluate(scores, targets, class_groups={"a": [0]})
    half = evaluate(scores.bfloat16(), targets).metrics
    assert half["mAP"] == evaluate(scores.bfloat16().float(), targets).metrics["mAP"]
