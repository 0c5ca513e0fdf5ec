"""summarize / evaluate_predictions: the run's metric row, its keys, groups and protocols."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scac.metrics import evaluate, evaluate_predictions, summarize, threshold_metrics
from scac.predictions import Predictions


def _predictions(seed=0, n=60):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 4)) < 0.3).astype(np.uint8)
    targets[:, 3] = 0  # a class without positives
    scores = np.clip(0.4 * targets + 0.6 * rng.random((n, 4)), 0, 1).astype(np.float32)
    return Predictions(
        scores=scores,
        targets=targets,
        mask=rng.random((n, 4)) > 0.1,
        image_ids=np.arange(n),
        classes=["ball", "plate", "person", "kite"],
        class_groups=["ambiguous", "ambiguous", "context", "distinct"],
    )


def test_summarize_keeps_its_shape_and_adds_both_cf1_and_top3():
    pred = _predictions()
    with pytest.warns(UserWarning, match="left out of mAP: kite"):
        metrics, per_class = summarize(pred, 0.5)
    for key in ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1", "mAP_ambiguous", "mAP_context"):
        assert key in metrics
    assert {"CF1_harmonic", "CF1_mean_f1", "CP_top3", "OF1_top3"} <= set(metrics)
    assert list(per_class) == pred.classes and math.isnan(per_class["kite"])
    assert math.isnan(metrics["mAP_distinct"])  # its only class has no positive
    assert metrics["mAP_ambiguous"] == pytest.approx((per_class["ball"] + per_class["plate"]) / 2)
    assert metrics["mAP"] == pytest.approx(
        np.mean([per_class[c] for c in ("ball", "plate", "person")])
    )
    scores, targets, mask = pred.tensors()
    ref = threshold_metrics(scores, targets, mask, 0.5)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert metrics[key] == pytest.approx(100 * ref[key])


def test_threshold_override_and_protocol_keyword():
    pred = _predictions()
    with pytest.warns(UserWarning):
        low, _ = summarize(pred, 0.2)
        base, _ = summarize(pred)
    assert low["OR"] > base["OR"] and low["mAP"] == base["mAP"]
    ev = evaluate_predictions(pred, "mmpretrain")  # a class without positives counts as 0
    assert ev.protocol.name == "mmpretrain"
    assert ev.per_class_ap["kite"] != ev.per_class_ap["kite"]  # NaN per class, 0 in the mean
    assert ev.metrics["mAP"] == pytest.approx(
        sum(v for v in ev.per_class_ap.values() if v == v) / 4
    )
    with pytest.raises(ValueError, match="classes without positives .*: kite"):
        summarize(pred, protocol="mlgcn")


def test_predictions_tensors_pass_through_numpy_and_torch_alike():
    pred = _predictions()
    scores, targets, mask = pred.tensors()
    a = evaluate_predictions(pred, "asl").metrics
    b = evaluate(scores.numpy(), targets.numpy(), mask.numpy(), protocol="asl").metrics
    c = evaluate(scores, targets.bool(), mask, protocol="asl").metrics
    assert a.keys() >= b.keys() and all(a[k] == b[k] == c[k] for k in b)
    assert torch.is_tensor(scores)
