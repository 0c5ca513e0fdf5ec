"""Threshold metrics of multi-label classification: per-class (C) and overall (O) P, R, F1.

CP and CR average the per-class precision and recall; OP and OR pool all decisions. CF1 here is
the harmonic mean of CP and CR (the ML-GCN convention); the full suite with both conventions is
in ``scac.metrics.protocols``. A class with no predicted (or no true) positive has precision
(recall) 0 in the average.
"""

from __future__ import annotations

import torch


def _f1(p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return torch.where(p + r > 0, 2 * p * r / (p + r).clamp(min=1e-12), torch.zeros_like(p))


def threshold_metrics(
    scores: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 with predictions ``score > threshold``.

    Args:
        scores: (N, C) probabilities.
        targets: (N, C) 0/1 labels.
        mask: (N, C) bool, False entries are ignored; None = all count.
        threshold: decision threshold on the scores.
    """
    valid = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.bool()
    pred = (scores > threshold) & valid
    true = (targets > 0.5) & valid
    tp = (pred & true).sum(0).double()  # (C,)
    n_pred = pred.sum(0).double()
    n_true = true.sum(0).double()
    cp_c = torch.where(n_pred > 0, tp / n_pred.clamp(min=1), torch.zeros_like(tp))
    cr_c = torch.where(n_true > 0, tp / n_true.clamp(min=1), torch.zeros_like(tp))
    cp, cr = cp_c.mean(), cr_c.mean()
    op = tp.sum() / n_pred.sum().clamp(min=1)
    orec = tp.sum() / n_true.sum().clamp(min=1)
    return {
        "CP": float(cp),
        "CR": float(cr),
        "CF1": float(_f1(cp, cr)),
        "OP": float(op),
        "OR": float(orec),
        "OF1": float(_f1(op, orec)),
    }
