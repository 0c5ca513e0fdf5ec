"""Average precision per class, vectorised over classes: four formulas, two tie modes.

* ``formula``: ``noninterp`` (AP = sum_k (R_k - R_{k-1}) P_k, scikit-learn, torchmetrics,
  ML-GCN, ASL, mmpretrain), ``voc2010`` (precision envelope, all points: the VOC 2010+ devkit,
  SRN, Query2Label) or ``voc2007`` / ``voc2007_py`` (11-point, the devkit's thresholds or the
  Python ports'); see ``scac.metrics.curve``.
* ``ties="group"`` puts every distinct score at one point of the curve, as scikit-learn and
  torchmetrics do: a tie group's positives all get the precision at the group's end.
  ``ties="order"`` gives every image its own point in score order, ties broken by image order
  (a stable sort): what the per-image loops of ML-GCN, ASL, SRN, Query2Label and mmpretrain
  compute. Their own sorts are not all stable, so on tied scores they can differ from this
  (and from run to run); without ties both modes agree with them.

How the points are found, once per class and without a Python loop over classes or images, is
in ``scac.metrics.ranking``.
"""

from __future__ import annotations

import torch

from scac.metrics.choices import FORMULAS, TIES, check_choice
from scac.metrics.inputs import check_inputs
from scac.metrics.ranking import RankedPositives

__all__ = ["FORMULAS", "TIES", "average_precision", "check_choice", "mean_average_precision"]


def average_precision(
    scores: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    formula: str = "noninterp",
    ties: str = "group",
) -> torch.Tensor:
    """Per-class average precision.

    Args:
        scores: (N, C) scores, higher = more confident (tensor or numpy array).
        targets: (N, C) 0/1 labels.
        mask: (N, C) bool, False entries are ignored (e.g. VOC difficult); None = all count.
        formula: ``noninterp`` (default, scikit-learn), ``voc2010``, ``voc2007`` (the
            devkit's 11 points) or ``voc2007_py`` (the Python ports' 11 points).
        ties: ``group`` (default, scikit-learn) or ``order`` (ties broken by image order).

    Returns:
        (C,) float64 AP per class in [0, 1]; NaN for a class without counted positives.
    """
    check_choice("formula", formula, FORMULAS)
    return torch.from_numpy(RankedPositives(*check_inputs(scores, targets, mask), ties).ap(formula))


def mean_average_precision(
    scores: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    formula: str = "noninterp",
    ties: str = "group",
) -> float:
    """mAP over the classes that have counted positives (see :func:`average_precision`).

    For the other ways of treating classes without positives, see
    ``scac.metrics.evaluation.reduce_ap``.
    """
    ap = average_precision(scores, targets, mask, formula=formula, ties=ties)
    return float(ap[~torch.isnan(ap)].mean()) if (~torch.isnan(ap)).any() else float("nan")
