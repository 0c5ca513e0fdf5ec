"""AP from the points of each class's precision-recall curve, for the three formulas.

A curve point is read at every counted positive: how many positives (``tp``) and counted
entries (``seen``) score at least as high as its point, which is the positive itself when ties
are broken by order, or the end of its tie group when ties are grouped. Precision and recall
change only at positives, so these P points carry every formula:

* ``noninterp``: AP = sum_k (R_k - R_{k-1}) P_k = mean of the precision at each positive;
* ``voc2010``: the same over the envelope P~ = max of the precision at this or a later point;
* ``voc2007``: mean over t in the devkit's MATLAB ``0:0.1:1`` (``VOCevalcls.m``) of the
  envelope at the first point with recall >= t. MATLAB's colon operator computes the first half
  as a + k d and the second as b - (n - k) d, so its thresholds are 0.30000000000000004 (a
  recall of exactly 0.3 does not reach the fourth one) but exactly 0.6 and 0.7;
* ``voc2007_py``: the same over ``np.arange(0, 1.1, 0.1)``, as the Python ports do
  (py-faster-rcnn's ``voc_eval.py`` and its copies), whose thresholds are 0.30000000000000004,
  0.6000000000000001 and 0.7000000000000001: a recall of exactly 0.6 or 0.7 reaches the devkit's
  threshold but not the port's.

Arrays are (B, P): B weighted resamples (bootstrap) of the same points, B = 1 for the sample;
a positive drawn k times counts k times. Per class they are laid out class x slot, slot = rank
among the class's positives, so every reduction is one vectorised operation.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from scac.metrics.choices import FORMULAS, check_choice


def matlab_colon(a: float, d: float, b: float) -> np.ndarray:
    """MATLAB's ``a:d:b`` for an exact number of steps n = (b - a) / d: symmetric from both
    ends (a + k d up to the middle, b - (n - k) d after it), as MathWorks describes its colon
    operator; the values differ from ``np.arange`` in the last bit."""
    n = round((b - a) / d)
    k = np.arange(n + 1)
    values = np.where(k <= n // 2, a + k * d, b - (n - k) * d)
    if n % 2 == 0:
        values[n // 2] = (a + b) / 2
    return values


# the 11 recall thresholds of each variant, rounding included
ELEVEN_POINTS = {
    "voc2007": matlab_colon(0.0, 0.1, 1.0),  # VOCevalcls.m, MATLAB's 0:0.1:1
    "voc2007_py": np.arange(0.0, 1.1, 0.1),  # voc_eval.py
}


def _padded(values: np.ndarray, row: np.ndarray, slot: np.ndarray, k: int, c: int, fill: float):
    """(B, P) per-positive values -> (B, C, K) class x slot, ``fill`` beyond a class's count."""
    out = np.full((values.shape[0], c, max(k, 1)), fill)
    out[:, row, slot] = values
    return out


def ap_from_points(
    row: np.ndarray,
    slot: np.ndarray,
    n_classes: int,
    w: np.ndarray,
    tp: np.ndarray,
    seen: np.ndarray,
    n_pos: np.ndarray,
    formula: str,
    in_order: bool,
) -> np.ndarray:
    """AP of every class from its curve points.

    Args:
        row: (P,) class of each positive.
        slot: (P,) its rank among its class's positives, descending score (ties: any order).
        n_classes: C.
        w: (B, P) copies of each positive in each resample.
        tp: (B, P) positives (copies included) down to each positive's curve point.
        seen: (B, P) counted entries down to it.
        n_pos: (B, C) positives per class.
        formula: one of :data:`FORMULAS`.
        in_order: ties broken by order: k > 1 copies of a positive are k successive points.

    Returns:
        (B, C) AP in [0, 1], NaN where a class has no positive.
    """
    check_choice("formula", formula, FORMULAS)
    k = int(np.bincount(row, minlength=n_classes).max(initial=0))

    def pad(values: np.ndarray, fill: float) -> np.ndarray:
        return _padded(values, row, slot, k, n_classes, fill)

    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)  # (B, P)
    per_class = np.maximum(n_pos, 1)
    if formula == "noninterp":
        gain = w * precision
        many = w > 1
        if in_order and many.any():
            # k copies of a positive after T positives among M counted entries, in order:
            # sum_{j=1..k} (T+j)/(M+j) = k - (M-T)(H(M+k) - H(M)), H(n) = psi(n+1) + const
            copies, before = w[many], seen[many] - w[many]
            h = special.digamma(np.stack([before + copies + 1, before + 1]))
            gain[many] = copies - (before - (tp[many] - copies)) * (h[0] - h[1])
        mean = pad(gain, 0.0).sum(-1) / per_class
    else:
        env = pad(precision, -np.inf)  # (B, C, K), then the max over this and later slots
        env = np.flip(np.maximum.accumulate(np.flip(env, -1), axis=-1), -1)
        env = np.where(np.isfinite(env), env, 0.0)
        if formula == "voc2010":
            mean = (env * pad(w, 0.0)).sum(-1) / per_class
        else:  # the first slot reaching recall t: the number of slots below t
            recall = pad(tp / per_class[:, row], np.inf)
            first = (recall[..., None] < ELEVEN_POINTS[formula]).sum(-2)  # (B, C, 11)
            env = np.concatenate([env, np.zeros(env.shape[:2] + (1,))], -1)
            mean = np.take_along_axis(env, first, -1).mean(-1)
    return np.where(n_pos > 0, mean, np.nan)
