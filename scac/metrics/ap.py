"""Average precision per class, vectorised over classes.

Non-interpolated AP with tied scores grouped as scikit-learn's ``average_precision_score``:
AP = sum over thresholds of (R_k - R_{k-1}) P_k, where every distinct score is one threshold.
Equivalently, each positive contributes the precision at the *end* of its tie group, divided by
the number of positives; this form vectorises over all classes at once with one sort.
"""

from __future__ import annotations

import torch


def _check(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> None:
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(
            f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)} must be equal (N, C)"
        )
    if mask is not None and mask.shape != scores.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match scores {tuple(scores.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    if not ((targets == 0) | (targets == 1)).all():
        raise ValueError("targets must be 0 or 1")


def average_precision(
    scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-class average precision.

    Args:
        scores: (N, C) scores, higher = more confident.
        targets: (N, C) 0/1 labels.
        mask: (N, C) bool, False entries are ignored (e.g. VOC difficult); None = all count.

    Returns:
        (C,) float64 AP per class; NaN for a class without (counted) positives.
    """
    _check(scores, targets, mask)
    scores = scores.double()
    valid = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.bool()
    n = scores.shape[0]
    order = torch.argsort(scores, dim=0, descending=True, stable=True)  # (N, C)
    s = torch.gather(scores, 0, order)
    y = torch.gather((targets.double() * valid), 0, order)
    v = torch.gather(valid.double(), 0, order)
    tp = torch.cumsum(y, 0)
    fp = torch.cumsum(v - y, 0)
    precision = tp / (tp + fp).clamp(min=1e-12)  # (N, C), at every cut-off
    # end of each tie group: the last position before the score changes
    is_end = torch.ones_like(s, dtype=torch.bool)
    is_end[:-1] = s[:-1] != s[1:]
    pos_index = torch.arange(n, device=s.device)[:, None].expand_as(s)
    end_index = torch.where(is_end, pos_index, torch.full_like(pos_index, n))
    end_index = torch.flip(torch.cummin(torch.flip(end_index, [0]), 0).values, [0])
    p_at_end = torch.gather(precision, 0, end_index)
    n_pos = y.sum(0)
    ap = (y * p_at_end).sum(0) / n_pos
    return torch.where(n_pos > 0, ap, torch.full_like(ap, float("nan")))


def mean_average_precision(
    scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> float:
    """mAP over the classes that have positives (see :func:`average_precision`)."""
    ap = average_precision(scores, targets, mask)
    return float(ap[~torch.isnan(ap)].mean()) if (~torch.isnan(ap)).any() else float("nan")
