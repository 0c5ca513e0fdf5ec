"""Metrics: AP parity with scikit-learn (ties included), threshold metrics by hand, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from scac.metrics import average_precision, mean_average_precision, threshold_metrics


@pytest.mark.parametrize("levels", [3, 10, 1000])
def test_ap_matches_sklearn_with_ties(levels):
    g = torch.Generator().manual_seed(levels)
    scores = torch.randint(0, levels, (300, 7), generator=g).double() / levels
    targets = (torch.rand(300, 7, generator=g) < 0.2).double()
    ours = average_precision(scores, targets).numpy()
    ref = [average_precision_score(targets[:, c].numpy(), scores[:, c].numpy()) for c in range(7)]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_ap_mask_drops_entries():
    scores = torch.tensor([[0.9], [0.8], [0.7]])
    targets = torch.tensor([[0.0], [1.0], [1.0]])
    assert average_precision(scores, targets)[0].item() == pytest.approx((1 / 2 + 2 / 3) / 2)
    mask = torch.tensor([[False], [True], [True]])
    assert average_precision(scores, targets, mask)[0].item() == pytest.approx(1.0)


def test_class_without_positives_is_nan_and_left_out_of_map():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.3]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    ap = average_precision(scores, targets)
    assert ap[0] == 1.0 and math.isnan(ap[1])
    assert mean_average_precision(scores, targets) == 1.0


def test_threshold_metrics_by_hand():
    scores = torch.tensor([[0.9, 0.6, 0.1], [0.4, 0.7, 0.8], [0.6, 0.2, 0.3]])
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    m = threshold_metrics(scores, targets)
    # per class: TP (1, 1, 1), predicted (2, 2, 1), true (2, 1, 2)
    cp, cr = (1 / 2 + 1 / 2 + 1) / 3, (1 / 2 + 1 + 1 / 2) / 3
    assert m["CP"] == pytest.approx(cp) and m["CR"] == pytest.approx(cr)
    assert m["CF1"] == pytest.approx(2 * cp * cr / (cp + cr))
    assert m["OP"] == pytest.approx(3 / 5) and m["OR"] == pytest.approx(3 / 5)
    assert m["OF1"] == pytest.approx(3 / 5)


@pytest.mark.parametrize(
    ("scores", "targets", "message"),
    [
        (torch.zeros(3, 2), torch.zeros(3, 3), "must be equal"),
        (torch.tensor([[float("nan")]]), torch.zeros(1, 1), "NaN or infinite"),
        (torch.zeros(2, 2), torch.full((2, 2), 0.5), "targets must be 0 or 1"),
        (torch.zeros(2, 2, dtype=torch.bool), torch.zeros(2, 2), "scores must be real numbers"),
        ([[0.5]], torch.zeros(1, 1), "scores must be a torch tensor or a numpy array"),
        (torch.zeros(2), torch.zeros(2), "must be equal \\(N, C\\)"),
    ],
)
def test_bad_input_raises(scores, targets, message):
    with pytest.raises(ValueError, match=message):
        average_precision(scores, targets)


def test_wrong_mask_shape_raises():
    with pytest.raises(ValueError, match=r"mask \(2, 1\) must match scores \(2, 2\)"):
        average_precision(torch.zeros(2, 2), torch.zeros(2, 2), torch.ones(2, 1, dtype=torch.bool))
