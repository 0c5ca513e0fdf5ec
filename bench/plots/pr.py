"""Precision-recall curves of a run's stored predictions, one line per class.

:func:`precision_recall` is one class's curve with tied scores grouped (as scikit-learn), the
curve the ``default`` protocol's AP is the area under.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench.plots.figures import _PALETTE, Plot, _figure, _style
from bench.store import RunRecord, Store
from scac.predictions import Predictions


def precision_recall(
    scores: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One class's precision-recall curve, tied scores grouped (as scikit-learn).

    Args:
        scores, targets, mask: (N,) scores, 0/1 labels, bool (False = ignored; None: all count).

    Returns:
        (precision, recall, thresholds, AP): one point per distinct score at which recall
        grows, from the highest score; AP = sum of (R_k - R_{k-1}) P_k, the area under the
        step curve through these points (NaN without positives).
    """
    keep = np.ones_like(scores, dtype=bool) if mask is None else mask.astype(bool)
    s, y = scores[keep].astype(np.float64), targets[keep].astype(np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each tie group
    tp = np.cumsum(y)[ends]
    fp = (ends + 1) - tp
    positives = y.sum()
    if positives == 0:
        return np.array([]), np.array([]), np.array([]), math.nan
    precision, recall = tp / (tp + fp), tp / positives
    grows = np.diff(np.r_[0.0, recall]) > 0  # groups of negatives only add no area
    precision, recall, thresholds = precision[grows], recall[grows], s[ends][grows]
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return precision, recall, thresholds, ap


def pr_curves(run: str, store: Store, *, classes: list[str] | None = None) -> Plot:
    """Precision-recall curves of a run's stored predictions, one line per class.

    Args:
        run: a run id (unique key prefix).
        store: the results store.
        classes: the classes to draw (default: all, when there are at most 10).

    Raises:
        KeyError: an unknown run or class (the run's classes listed).
        FileNotFoundError: the run has no predictions file.
    """
    record: RunRecord = store.get(run)
    pred = Predictions.load(
        Path(record.artifacts or store.artifacts_dir(record.run_key)) / "predictions.npz"
    )
    if classes is None:
        if len(pred.classes) > 10:
            raise ValueError(
                f"run {record.run_key[:10]} has {len(pred.classes)} classes: choose up to 10 "
                f"with --classes ({', '.join(pred.classes[:12])}...)"
            )
        classes = list(pred.classes)
    unknown = [c for c in classes if c not in pred.classes]
    if unknown:
        raise KeyError(
            f"no class {unknown[0]!r} in run {record.run_key[:10]}; its classes: "
            f"{', '.join(pred.classes)}"
        )
    frames = []
    values, kind = pred.values()  # logits when stored: the order the run's AP was computed on
    for cls in classes:
        j = pred.classes.index(cls)
        p, r, t, ap = precision_recall(values[:, j], pred.targets[:, j], pred.mask[:, j])
        t = 1 / (1 + np.exp(-t)) if kind == "logit" else t  # thresholds as probabilities
        frames.append(
            pd.DataFrame({"class": cls, "recall": r, "precision": p, "threshold": t, "AP": ap})
        )
    data = pd.concat(frames, ignore_index=True)
    fig = _figure(5.6, 3.8)
    ax = fig.axes[0]
    for k, cls in enumerate(classes):
        sub = data[data["class"] == cls]
        if sub.empty:
            continue
        ap = sub["AP"].iloc[0]
        ax.step(
            np.r_[0.0, sub["recall"]],
            np.r_[sub["precision"].iloc[0], sub["precision"]],
            where="pre",
            color=_PALETTE[k % len(_PALETTE)],
            linewidth=1.6,
            label=f"{cls} (AP {100 * ap:.1f})",
        )
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"run {record.run_key[:10]}: {len(pred.scores)} images", loc="left")
    ax.legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _style(ax)
    ax.grid(axis="x", color="0.9", linewidth=0.8)
    return Plot(fig, data)


__all__ = ["pr_curves", "precision_recall"]
