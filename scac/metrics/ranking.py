"""Each class's counted positives in score order: the curve points every AP formula reads.

Two ways to the same points (``scac.metrics.curve``):

* unweighted, float32 scores (stored predictions): no argsort at all. One sort of
  order-preserving integer keys per class (class in the high bits, so one search serves every
  class; under ``order`` ties the image index in the low bits, so keys are unique), then for
  each positive the number of entries and of positives ranked at least as high, by binary
  search;
* otherwise a SIMD argsort per class (ties by image index when they are broken by order) gives
  the rank of every entry, which bootstrap weights need: a resample's counted entries down to
  each point are one sparse product of its image multiplicities with a (points x images)
  0/1 matrix, so a resample is never re-sorted.

Ignored entries (mask False) count neither as positives nor as entries seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from scac.metrics.choices import TIES, check_choice
from scac.metrics.curve import ap_from_points

_MAX_ORDER_KEYS = 1 << 31  # (class, score, image) keys fit in int64 while C * N < 2**31


def descending_order(scores: np.ndarray, stable: bool) -> np.ndarray:
    """(C, N) image index at each rank of (C, N) scores; ties by image index if ``stable``."""
    order = np.argsort(-scores, axis=1)  # SIMD quicksort, ~10x faster than a stable sort
    if stable:
        ranked = np.take_along_axis(scores, order, 1)
        tied = ranked[:, 1:] == ranked[:, :-1]
        if tied.any():  # re-sort by (tie group, image index): unique keys, so deterministic
            group = np.zeros(order.shape, np.int64)
            group[:, 1:] = np.cumsum(~tied, axis=1)
            key = group * order.shape[1] + order
            order = np.take_along_axis(order, np.argsort(key, axis=1), 1)
    return order


def _keys(values: np.ndarray, row: np.ndarray) -> np.ndarray:
    """int64 keys ordered as (row, float32 value): the IEEE bits, negatives' bits flipped."""
    bits = values.view(np.int32)
    ordered = bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))  # int32, in the floats' order
    return ordered.astype(np.int64) + ((row.astype(np.int64) << 32) + (1 << 31))


class RankedPositives:
    """The curve points of every class of one input, for the sample or weighted resamples.

    Args:
        scores: (N, C) float scores.
        positive: (N, C) bool counted positives.
        valid: (N, C) bool counted entries, or None when all count.
        ties: ``group`` or ``order``.
    """

    def __init__(
        self, scores: np.ndarray, positive: np.ndarray, valid: np.ndarray | None, ties: str
    ) -> None:
        check_choice("ties", ties, TIES)
        self.ties, self.shape = ties, scores.shape
        self.scores, self.positive, self.valid = scores, positive, valid
        self._fast: tuple[np.ndarray, ...] | None = None
        self._full: dict[str, Any] | None = None
        self._scores32: np.ndarray | bool | None = None  # False: float32 would not be exact

    def ap(self, formula: str = "noninterp", weights: np.ndarray | None = None) -> np.ndarray:
        """(C,) AP in [0, 1], NaN for a class without counted positives; (B, C) with weights.

        Args:
            formula: ``noninterp``, ``voc2010``, ``voc2007`` or ``voc2007_py``.
            weights: (B, N) integer image multiplicities of B resamples; None = each once.
        """
        n, c = self.shape
        in_order = self.ties == "order"
        keys_fit = not in_order or n * c < _MAX_ORDER_KEYS
        if weights is None and keys_fit and self._float32() is not None:
            row, slot, tp, seen = self._sorted_points()
            n_pos = np.bincount(row, minlength=c)[None].astype(np.float64)
            w = np.ones((1, row.size))
            ap = ap_from_points(row, slot, c, w, tp[None], seen[None], n_pos, formula, in_order)
            return ap[0]
        r = self._ranked()
        if weights is None:
            w = np.ones((1, r["row"].size))
            tp, seen = r["tp"][None], r["seen"][None]
            n_pos = np.bincount(r["row"], minlength=c)[None].astype(np.float64)
        else:
            w, tp, seen, n_pos = self._weighted_points(weights)
        ap = ap_from_points(r["row"], r["slot"], c, w, tp, seen, n_pos, formula, in_order)
        return ap[0] if weights is None else ap

    def _float32(self) -> np.ndarray | None:
        """The scores as float32 if that is exact (it is for stored predictions), else None."""
        if self._scores32 is None:
            s = self.scores
            s32 = s if s.dtype == np.float32 else s.astype(np.float32)
            self._scores32 = s32 if s32 is s or (s32 == s).all() else False
        return self._scores32 if isinstance(self._scores32, np.ndarray) else None

    def _sorted_points(self) -> tuple[np.ndarray, ...]:
        """(row, slot, tp, seen) per positive, from one sort of integer keys and searches."""
        if self._fast is None:
            n, c = self.shape
            s32 = self._float32()
            assert s32 is not None, "the fast path is taken only for exact float32 scores"
            s = np.array(s32.T, order="C")  # (C, N), a copy: edited below
            s += np.float32(0.0)  # -0.0 -> 0.0: equal scores must get equal keys
            if self.valid is not None:
                s[~self.valid.T] = -np.inf  # ignored entries sort below every score
            rows = np.arange(c)[:, None]
            flat = np.flatnonzero(self.positive.T)  # (P,) class-major positions
            if self.ties == "group":  # a float sort, then keys: faster than sorting keys
                query = _keys(s.reshape(-1)[flat], flat // n)
                ranked = _keys(np.sort(s, axis=1), rows)  # (C, N), ascending (class, score)
            else:  # unique keys: among equal scores, the lower image index ranks higher
                ranked = _keys(s, rows) * n + np.arange(n - 1, -1, -1)
                query = ranked.reshape(-1)[flat]
                ranked.sort(axis=1)
            query.sort()  # positives by (class, key): sorted queries make the searches fast
            row = query >> 32 if self.ties == "group" else query // (n << 32)
            count = np.bincount(row, minlength=c)
            start = np.cumsum(count) - count
            index = np.arange(query.size)
            first = index  # the first positive of a tie group (each its own under order)
            if self.ties == "group":
                new = np.r_[True, query[1:] != query[:-1]]
                first = np.maximum.accumulate(np.where(new, index, 0))
            tp = (start + count)[row] - first  # positives ranked at or above its point
            seen = (row + 1) * n - np.searchsorted(ranked.reshape(-1), query)  # entries, likewise
            slot = count[row] - 1 - (index - start[row])  # descending score within the class
            self._fast = row, slot, tp.astype(np.float64), seen.astype(np.float64)
        return self._fast

    def _ranked(self) -> dict[str, Any]:
        """Every entry ranked: the points and what weighted resamples need, computed once."""
        if self._full is None:
            n, c = self.shape
            s = np.ascontiguousarray(self.scores.T)  # (C, N)
            order = descending_order(s, stable=self.ties == "order")
            hits = np.flatnonzero(np.take_along_axis(self.positive.T, order, 1))  # flat ranks
            row = hits // n
            count = np.bincount(row, minlength=c)
            start = np.cumsum(count) - count
            end = hits  # where each positive's point is read: itself, or its tie group's end
            if self.ties == "group":
                ranked = np.take_along_axis(s, order, 1)
                last = np.ones((c, n), bool)
                last[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
                ends = np.flatnonzero(last)
                end = ends[np.searchsorted(ends, hits)]
            through = np.searchsorted(hits, end, side="right") - 1  # last positive at the point
            valid = None if self.valid is None else np.take_along_axis(self.valid.T, order, 1)
            seen = end % n + 1 if valid is None else np.cumsum(valid, 1).reshape(-1)[end]
            points, point_of = np.unique(end, return_inverse=True)  # (U,), (P,)
            self._full = {
                "order": order,
                "valid": valid,
                "row": row,
                "slot": np.arange(hits.size) - start[row],
                "start": start,
                "count": count,
                "image": order.reshape(-1)[hits],
                "through": through,
                "tp": (through - start[row] + 1).astype(np.float64),
                "seen": seen.astype(np.float64),
                "points": points,
                "point_of": point_of,
                "first_point": np.searchsorted(points // n, points // n),
                "spans": None,
            }
        return self._full

    def _span_matrix(self) -> sparse.csr_matrix:
        """(U, N) sparse 0/1: the counted images ranked in (previous point, point] of a class."""
        r = self._ranked()
        if r["spans"] is None:
            c, n = r["order"].shape
            points = r["points"]
            cls = points // n
            same = np.r_[False, cls[1:] == cls[:-1]]
            opens = np.where(same, np.r_[0, points[:-1] + 1], cls * n)  # (U,) span starts
            length = points - opens + 1
            row = np.repeat(np.arange(points.size), length)  # (R,) point of each ranked entry
            rank = np.arange(row.size) - np.repeat(np.cumsum(length) - length, length)
            rank += np.repeat(opens, length)  # (R,) flat ranks, span after span
            if r["valid"] is not None:
                keep = r["valid"].reshape(-1)[rank]
                row, rank = row[keep], rank[keep]
            crow = np.r_[0, np.cumsum(np.bincount(row, minlength=points.size))]
            r["spans"] = sparse.csr_matrix(
                (
                    np.ones(rank.size, dtype=np.float32),  # integer sums: exact < 2**24
                    r["order"].reshape(-1)[rank],
                    crow,
                ),
                shape=(points.size, n),
            )
        return r["spans"]

    def _weighted_points(self, weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """(w, tp, seen, n_pos) of B resamples given as (B, N) image multiplicities."""
        r = self._ranked()
        # the running counts below never exceed N x C (a resample holds N images per class):
        # exact in float32 below 2**24, half the memory traffic of float64; np.take, not fancy
        # indexing: several times faster for a gather along the last axis
        count = np.float32 if weights.shape[1] * self.shape[1] < 1 << 24 else np.float64
        w = np.take(weights, r["image"], axis=1).astype(count)  # (B, P) copies of each positive
        run = np.zeros((len(w), w.shape[1] + 1), count)
        np.cumsum(w, axis=1, out=run[:, 1:])
        tp = np.take(run, r["through"] + 1, axis=1) - np.take(run, r["start"][r["row"]], axis=1)
        n_pos = run[:, r["start"] + r["count"]] - run[:, r["start"]]  # (B, C)
        w_img = np.ascontiguousarray(weights.T, dtype=np.float32)  # (N, B)
        spans = (self._span_matrix() @ w_img).T.astype(count, copy=False)
        run = np.cumsum(spans, axis=1)  # (B, U) counted entries, restarted per class:
        base = np.where(r["first_point"] > 0, run[:, r["first_point"] - 1], 0)
        seen = np.take(run - base, r["point_of"], axis=1)
        return (w.astype(np.float64), tp.astype(np.float64), seen.astype(np.float64),
                n_pos.astype(np.float64))  # fmt: skip
