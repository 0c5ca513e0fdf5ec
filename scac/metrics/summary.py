"""The metric row of a run: mAP, per-class AP, threshold metrics, and mAP per class group."""

from __future__ import annotations

from scac.metrics.evaluation import evaluate_predictions
from scac.metrics.protocols import Protocol
from scac.predictions import Predictions


def summarize(
    pred: Predictions, threshold: float | None = 0.5, *, protocol: str | Protocol = "default"
) -> tuple[dict[str, float], dict[str, float]]:
    """(metrics, per-class AP) of stored predictions, in percent.

    ``metrics`` holds ``mAP``, ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1``, both CF1
    conventions (``CF1_harmonic``, ``CF1_mean_f1``), the top-k metrics (``CP_top3`` ...) and,
    when the classes carry groups (the synthetic benchmark's ``ambiguous`` / ``context`` /
    ``distinct``), ``mAP_<group>`` for each.

    Args:
        pred: the predictions.
        threshold: decision threshold as a probability; None = the protocol's own.
        protocol: a preset name (see ``scac.metrics.PROTOCOLS``) or a ``Protocol``.
    """
    ev = evaluate_predictions(pred, protocol, threshold=threshold)
    return ev.metrics, ev.per_class_ap
