"""The full metric set of a protocol, from (scores, targets, mask) or stored predictions.

:class:`Evaluator` does the per-input work once (one sort per class, the threshold and top-k
decisions) and then computes any subset of the metrics for the whole sample or, given image
weights, for a batch of bootstrap resamples at once.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from scac.metrics.choices import check_choice
from scac.metrics.inputs import check_groups, check_inputs
from scac.metrics.protocols import SPACES, Protocol, get_protocol
from scac.metrics.ranking import RankedPositives
from scac.metrics.threshold import counts, decide, rates, top_k
from scac.predictions import Predictions


def reduce_ap(
    ap: np.ndarray, no_positive: str, names: list[str] | None = None, *, warn: bool = True
) -> np.ndarray:
    """mAP from (..., C) per-class AP whose NaNs mark classes without counted positives.

    Args:
        ap: (..., C) AP, NaN where a class has no counted positive.
        no_positive: ``exclude`` (mean over the others, with a warning naming the classes),
            ``zero`` (they count as 0) or ``raise`` (``ValueError`` naming them).
        names: class names for the messages; None = class indices.
        warn: whether ``exclude`` warns (off inside bootstrap replicates).

    Returns:
        (...) mAP; NaN when no class has a positive under ``exclude``.
    """
    ap = np.asarray(ap, dtype=np.float64)
    missing = np.isnan(ap)
    if missing.any() and (no_positive == "raise" or (no_positive == "exclude" and warn)):
        idx = np.flatnonzero(missing.reshape(-1, ap.shape[-1]).any(0)).tolist()
        which = ", ".join(names[i] for i in idx) if names else f"indices {idx}"
        if no_positive == "raise":
            raise ValueError(f"classes without positives (protocol says raise): {which}")
        warnings.warn(f"classes without positives left out of mAP: {which}", stacklevel=3)
    if no_positive == "zero":
        return np.where(missing, 0.0, ap).mean(-1)
    kept = (~missing).sum(-1)
    total = np.where(missing, 0.0, ap).sum(-1)
    return np.divide(total, kept, out=np.full(np.shape(total), np.nan), where=kept > 0)


def _threshold(protocol: Protocol, score_kind: str) -> float:
    """The protocol's threshold on the scale of the scores (logit 0 <-> probability 0.5)."""
    t = protocol.threshold
    if protocol.threshold_space == score_kind:
        return t
    if score_kind == "logit":  # a probability threshold, logit scores
        return -math.inf if t <= 0 else math.inf if t >= 1 else math.log(t / (1 - t))
    return 1 / (1 + math.exp(-t))


class Evaluator:
    """One input's metric set under one protocol, for the full sample or weighted resamples.

    Args:
        scores: (N, C) scores (tensor or numpy array).
        targets: (N, C) 0/1 labels.
        mask: (N, C) bool, False = ignored entry; None = all count.
        protocol: a preset name or a :class:`Protocol`.
        score_kind: ``probability`` (checked to lie in [0, 1]) or ``logit``.
        classes: class names, for messages and the per-class AP; None = indices.
    """

    def __init__(
        self,
        scores: Any,
        targets: Any,
        mask: Any = None,
        *,
        protocol: str | Protocol = "default",
        score_kind: str = "probability",
        classes: list[str] | None = None,
    ) -> None:
        self.protocol = p = get_protocol(protocol)
        check_choice("score_kind", score_kind, SPACES)
        self.scores, self.positive, self.valid = check_inputs(scores, targets, mask)
        if score_kind == "probability" and (self.scores.min() < 0 or self.scores.max() > 1):
            raise ValueError("scores outside [0, 1] are not probabilities: use score_kind='logit'")
        n_classes = self.scores.shape[1]
        if classes is not None and len(classes) != n_classes:
            raise ValueError(f"{len(classes)} class names for {n_classes} classes")
        self.classes = classes
        self._cutoff = _threshold(p, score_kind)
        self._ranked: RankedPositives | None = None  # sorted lazily: threshold metrics skip it
        self._ap: np.ndarray | None = None
        self._decided: dict[bool, tuple] = {}

    def _decisions(self, top: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(pred, positive, valid) (N, C) for the threshold (or top-k) counts, made once."""
        if top not in self._decided:
            p = self.protocol
            pred = decide(self.scores, self._cutoff, p.comparison)  # (N, C)
            if top:  # with fewer than k classes, every class is among the top k
                best = top_k(self.scores, min(p.top_k, self.scores.shape[1]))
                pred = best & pred if p.top_k_threshold else best
            # ML-GCN counts ignored entries as negatives here (their positives are not counted)
            valid = None if p.ignored_in_threshold == "negative" else self.valid
            self._decided[top] = pred, self.positive, valid
        return self._decided[top]

    def per_class_ap(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(C,) AP in [0, 1], NaN for classes without counted positives; (B, C) with weights."""
        if self._ranked is None:
            self._ranked = RankedPositives(
                self.scores, self.positive, self.valid, self.protocol.ap_ties
            )
        if weights is not None:
            return self._ranked.ap(self.protocol.ap_formula, weights)
        if self._ap is None:
            self._ap = self._ranked.ap(self.protocol.ap_formula)
        return self._ap

    def compute(
        self, weights: np.ndarray | None = None, only: str | None = None
    ) -> dict[str, np.ndarray]:
        """The metric set as fractions: each value () for the sample, (B,) with (B, N) weights.

        Args:
            weights: (B, N) integer image multiplicities of B resamples; None = the sample.
            only: compute just this metric (its name from :meth:`Protocol.metric_names`).
        """
        p, out = self.protocol, {}
        names = p.metric_names()
        if only is not None and only not in names:
            raise ValueError(f"unknown metric {only!r}; known: {', '.join(names)}")
        if only in (None, "mAP"):
            # inside resamples a class may lose its positives: leave it out there, silently
            policy = p.no_positive if weights is None or p.no_positive != "raise" else "exclude"
            ap = self.per_class_ap(weights)
            out["mAP"] = reduce_ap(ap, policy, self.classes, warn=weights is None)
        for top, suffix in ((False, ""), (True, f"_top{p.top_k}")):
            if only is not None and (only == "mAP" or only.endswith(f"_top{p.top_k}") != top):
                continue
            r = rates(*counts(*self._decisions(top), weights), p.zero_division)
            r["CF1"] = r["CF1_harmonic"] if p.cf1 == "harmonic" else r["CF1_mean_f1"]
            out.update({f"{k}{suffix}": v for k, v in r.items()})
        return {k: out[k] for k in names if k in out}


@dataclass(frozen=True)
class Evaluation:
    """A metric set in percent, with the protocol it was computed under.

    Attributes:
        protocol: the protocol.
        metrics: name -> value in percent (``mAP``, ``CP`` ... ``OF1_top3``, ``mAP_<group>``).
        per_class_ap: class name -> AP in percent (NaN: no counted positive).
    """

    protocol: Protocol
    metrics: dict[str, float]
    per_class_ap: dict[str, float]


def evaluate(
    scores: Any,
    targets: Any,
    mask: Any = None,
    *,
    protocol: str | Protocol = "default",
    score_kind: str = "probability",
    classes: list[str] | None = None,
    class_groups: list[str] | None = None,
) -> Evaluation:
    """The full metric set of ``protocol`` (see :class:`Evaluator` for the arguments).

    ``class_groups`` (one group name per class, empty = none) adds ``mAP_<group>`` for each
    group, classes without positives treated as the protocol says.
    """
    ev = Evaluator(scores, targets, mask, protocol=protocol, score_kind=score_kind, classes=classes)
    class_groups = check_groups(class_groups, ev.scores.shape[1])
    values = {k: 100 * float(v) for k, v in ev.compute().items()}
    metrics = {"mAP": values.pop("mAP")}  # then mAP per group, then the threshold metrics
    ap = ev.per_class_ap()
    names = classes or [str(i) for i in range(ap.shape[0])]
    for group in sorted({g for g in class_groups or [] if g}):
        idx = [i for i, g in enumerate(class_groups or []) if g == group]
        sub = reduce_ap(ap[idx], ev.protocol.no_positive, [names[i] for i in idx], warn=False)
        metrics[f"mAP_{group}"] = 100 * float(sub)
    metrics.update(values)
    per_class = {c: 100 * float(a) for c, a in zip(names, ap.tolist(), strict=True)}
    return Evaluation(ev.protocol, metrics, per_class)


def evaluate_predictions(
    pred: Predictions,
    protocol: str | Protocol = "default",
    *,
    threshold: float | None = None,
    values: str = "best",
) -> Evaluation:
    """:func:`evaluate` on stored predictions, with their class groups.

    Args:
        pred: the predictions.
        protocol: a preset name or a :class:`Protocol`.
        threshold: if given, replaces the protocol's threshold, as a probability.
        values: what is ranked and thresholded (:meth:`Predictions.values`): ``best`` (the
            logits when stored: exact order; else the probabilities), ``logit`` or
            ``probability`` (float32 sigmoids, tied at 1.0 above a logit of about 17, as a
            codebase that stores probabilities would rank them).
    """
    p = get_protocol(protocol)
    if threshold is not None:
        p = replace(p, threshold=threshold, threshold_space="probability")
    scores, kind = pred.values(values)
    return evaluate(
        scores,
        pred.targets,
        pred.mask,
        protocol=p,
        score_kind=kind,
        classes=pred.classes,
        class_groups=pred.class_groups,
    )


def evaluate_file(path: str | Path, protocol: str | Protocol = "default") -> Evaluation:
    """:func:`evaluate_predictions` of a predictions file; a missing file is named."""
    return evaluate_predictions(Predictions.load(path), protocol)
