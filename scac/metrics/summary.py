"""The metric row of a run: mAP, per-class AP, threshold metrics, and mAP per class group."""

from __future__ import annotations

import math

from scac.metrics.ap import average_precision
from scac.metrics.threshold import threshold_metrics
from scac.predictions import Predictions


def summarize(
    pred: Predictions, threshold: float = 0.5
) -> tuple[dict[str, float], dict[str, float]]:
    """(metrics, per-class AP) of stored predictions, in percent.

    ``metrics`` holds ``mAP``, ``CP``, ``CR``, ``CF1``, ``OP``, ``OR``, ``OF1`` and, when the
    classes carry groups (the synthetic benchmark's ``ambiguous`` / ``context`` /
    ``distinct``), ``mAP_<group>`` for each.
    """
    scores, targets, mask = pred.tensors()
    ap = average_precision(scores, targets, mask)
    per_class = {c: 100 * float(a) for c, a in zip(pred.classes, ap.tolist(), strict=True)}
    valid = [a for a in per_class.values() if not math.isnan(a)]
    metrics = {"mAP": sum(valid) / len(valid) if valid else float("nan")}
    for group in sorted({g for g in pred.class_groups if g}):
        vals = [
            per_class[c]
            for c, g in zip(pred.classes, pred.class_groups, strict=True)
            if g == group and not math.isnan(per_class[c])
        ]
        metrics[f"mAP_{group}"] = sum(vals) / len(vals) if vals else float("nan")
    metrics.update(
        {k: 100 * v for k, v in threshold_metrics(scores, targets, mask, threshold).items()}
    )
    return metrics, per_class
