"""Predictions written by other codebases, scored by ours.

A researcher's own model writes its scores in whatever its codebase writes: a CSV, a NumPy array,
a JSON list. :func:`read_predictions` reads them, matched by image id to ground truth read by
:func:`read_truth` from COCO annotations, a VOC 2007 folder or a label CSV, into
:class:`scac.predictions.Predictions`, which every metric protocol scores. Every mismatch is one
error that names it: an image in one file and not the other, a class the truth does not know, a
score outside its kind.

Score files:

* ``.csv``: a header row; an image id column (``--id-column``, else the first) and one column
  per class, named as the truth names them (any order);
* ``.npy``: an (N, C) array in the truth's image and class order (or ``classes=`` names them);
* ``.npz``: ``scores`` (N, C), optional ``image_ids`` (N,) and ``classes`` (C,); or a file this
  toolkit wrote (its own ground truth inside);
* ``.json``: a list of ``{"image_id": ID, "scores": {CLASS: SCORE, ...}}``, or of
  ``{"image_id": ID, "labels": [CLASS, ...], "scores": [SCORE, ...]}`` (classes left out score 0
  as probabilities, are an error as logits), or a mapping ``{ID: {CLASS: SCORE}}``.

Ground truth: a COCO annotation file (``instances_*.json``; crowd boxes label their class), a VOC
2007 folder (``difficult``-only classes ignored, the VOC protocol) or a label CSV (an image id
column, then one 0/1 column per class; an empty cell is ignored).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scac.predictions import Predictions

KINDS = ("probability", "logit")


class ForeignPredictionsError(ValueError):
    """A predictions or ground-truth file that cannot be matched; the message names the culprit."""


@dataclass(frozen=True)
class Truth:
    """Ground truth of N images and C classes.

    Attributes:
        ids: the images' ids as text (matched against the predictions' ids as text).
        classes: C class names.
        targets: (N, C) uint8 labels.
        mask: (N, C) bool, False where the label is ignored.
        source: the file or folder it was read from.
    """

    ids: list[str]
    classes: list[str]
    targets: np.ndarray
    mask: np.ndarray
    source: Path


def _id(value: Any) -> str:
    """An image id as text: ``12`` and ``12.0`` and ``"12"`` are one image."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _coco_truth(path: Path) -> Truth:
    from scac.data.coco import load_coco

    coco = load_coco(path)
    cats = sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])
    column = {c["id"]: j for j, c in enumerate(cats)}
    ids = sorted(coco.getImgIds())
    targets = np.zeros((len(ids), len(cats)), np.uint8)
    for i, image_id in enumerate(ids):
        for a in coco.imgToAnns.get(image_id, []):
            if a.get("category_id") not in column:
                raise ForeignPredictionsError(
                    f"{path}: annotation {a.get('id')} has category {a.get('category_id')!r}, "
                    "which is not among the file's categories"
                )
            targets[i, column[a["category_id"]]] = 1
    return Truth([_id(i) for i in ids], [c["name"] for c in cats], targets,
                 np.ones(targets.shape, bool), path)  # fmt: skip


def _voc_truth(path: Path, split: str) -> Truth:
    from scac.data.voc import read_voc

    index = read_voc(path, split, difficult="ignore")
    targets = np.stack([r.labels for r in index.records]).astype(np.uint8)
    mask = np.stack([r.mask for r in index.records])
    return Truth([r.name for r in index.records], list(index.classes), targets, mask, path)


def _csv_truth(path: Path, id_column: str | None) -> Truth:
    ids, classes, rows = _read_csv(path, id_column)
    targets = np.zeros((len(ids), len(classes)), np.uint8)
    mask = np.ones(targets.shape, bool)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if cell.strip() == "":
                mask[i, j] = False
            elif cell.strip() in ("1", "1.0"):
                targets[i, j] = 1
            elif cell.strip() not in ("0", "0.0"):
                raise ForeignPredictionsError(
                    f"{path}: image {ids[i]}, class {classes[j]!r}: a label must be 0, 1 or empty "
                    f"(ignored), got {cell!r}"
                )
    return Truth(ids, classes, targets, mask, path)


def read_truth(path: str | Path, *, split: str = "test", id_column: str | None = None) -> Truth:
    """Ground truth from COCO annotations (``.json``), a VOC 2007 folder (``split``) or a label
    CSV (``id_column``, else its first column)."""
    path = Path(path)
    if path.is_dir():
        return _voc_truth(path, split)
    if not path.is_file():
        raise ForeignPredictionsError(f"ground truth not found: {path}")
    if path.suffix == ".json":
        return _coco_truth(path)
    if path.suffix == ".csv":
        return _csv_truth(path, id_column)
    raise ForeignPredictionsError(
        f"{path}: ground truth must be COCO annotations (.json), a VOC folder or a label .csv"
    )


def _read_csv(path: Path, id_column: str | None) -> tuple[list[str], list[str], list[list[str]]]:
    """(ids, the other columns' names, their cells) of a CSV with a header row."""
    try:
        with path.open(newline="") as fh:
            table = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ForeignPredictionsError(f"cannot read {path}: {err}") from None
    if len(table) < 2:
        raise ForeignPredictionsError(f"{path}: a header row and at least one image are needed")
    header = [h.strip() for h in table[0]]
    key = id_column if id_column is not None else header[0]
    if key not in header:
        raise ForeignPredictionsError(f"{path}: no column {key!r}; columns: {', '.join(header)}")
    at = header.index(key)
    others = [j for j in range(len(header)) if j != at]
    rows = []
    for n, row in enumerate(table[1:], start=2):
        if len(row) != len(header):
            raise ForeignPredictionsError(
                f"{path}, line {n}: {len(row)} cells for {len(header)} columns"
            )
        rows.append(row)
    return [_id(r[at]) for r in rows], [header[j] for j in others], [[r[j] for j in others]
                                                                        for r in rows]  # fmt: skip


def _number(cell: Any, where: str) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise ForeignPredictionsError(f"{where}: not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise ForeignPredictionsError(f"{where}: not a finite number: {cell!r}")
    return value


def _scores_by_id(path: Path, id_column: str | None, classes: list[str] | None):
    """(ids or None, class names or None, (N, C) float64 scores) as the file holds them."""
    suffix = path.suffix
    if suffix == ".csv":
        ids, names, rows = _read_csv(path, id_column)
        scores = np.array(
            [
                [_number(c, f"{path}, image {ids[i]}, class {names[j]!r}") for j, c in enumerate(r)]
                for i, r in enumerate(rows)
            ]  # fmt: skip
        )
        return ids, names, scores
    if suffix == ".npy":
        try:
            scores = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ForeignPredictionsError(f"cannot read {path}: {err}") from None
        return None, classes, np.asarray(scores, dtype=np.float64)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                if "scores" not in f.files:
                    raise ForeignPredictionsError(f"{path}: no 'scores' array ({f.files})")
                listed = (
                    [_id(i) for i in f["image_ids"].tolist()] if "image_ids" in f.files else None
                )
                named = [str(c) for c in f["classes"]] if "classes" in f.files else classes
                return listed, named, np.asarray(f["scores"], dtype=np.float64)
        except (OSError, ValueError) as err:
            if isinstance(err, ForeignPredictionsError):
                raise
            raise ForeignPredictionsError(f"cannot read {path}: {err}") from None
    if suffix == ".json":
        return _json_scores(path)
    raise ForeignPredictionsError(f"{path}: predictions must be .csv, .npy, .npz or .json")


def _json_scores(path: Path):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ForeignPredictionsError(f"cannot read {path}: {err}") from None
    entries = (
        [{"image_id": k, "scores": v} for k, v in data.items()] if isinstance(data, dict) else data
    )
    if not isinstance(entries, list):
        raise ForeignPredictionsError(f"{path}: expected a list of per-image entries")
    per_image: dict[str, dict[str, float]] = {}
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or "image_id" not in e or "scores" not in e:
            raise ForeignPredictionsError(
                f"{path}: entry {n} needs 'image_id' and 'scores', got {str(e)[:80]!r}"
            )
        scores = e["scores"]
        if isinstance(scores, list):
            labels = e.get("labels")
            if not isinstance(labels, list) or len(labels) != len(scores):
                raise ForeignPredictionsError(
                    f"{path}: entry {n}: a list of scores needs as many 'labels'"
                )
            scores = dict(zip(labels, scores, strict=True))
        if not isinstance(scores, dict):
            raise ForeignPredictionsError(f"{path}: entry {n}: 'scores' must map classes")
        where = f"{path}, image {e['image_id']}"
        per_image[_id(e["image_id"])] = {
            str(k): _number(v, f"{where}, class {k!r}") for k, v in scores.items()
        }
    names = sorted({k for s in per_image.values() for k in s})
    scores = np.full((len(per_image), len(names)), np.nan)
    for i, s in enumerate(per_image.values()):
        for j, name in enumerate(names):
            if name in s:
                scores[i, j] = s[name]
    return list(per_image), names, scores


def read_predictions(
    path: str | Path,
    truth: Truth | None = None,
    *,
    classes: list[str] | None = None,
    kind: str | None = None,
    id_column: str | None = None,
) -> Predictions:
    """Scores of another codebase, matched to ``truth`` by image id and class name.

    Args:
        path: the scores file (see the module for the formats).
        truth: the ground truth (:func:`read_truth`); None only for a file this toolkit wrote.
        classes: the class names of an array without them (default: the truth's order).
        kind: ``probability`` or ``logit`` (default: probability when every score is in [0, 1]).
        id_column: the CSV's image id column (default: its first).

    Raises:
        ForeignPredictionsError: an image or class in one file and not the other, a score outside
            its kind, a malformed file; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise ForeignPredictionsError(f"predictions file not found: {path}")
    if truth is None:
        return Predictions.load(path)  # a file of this toolkit's, its ground truth inside
    if kind is not None and kind not in KINDS:
        raise ForeignPredictionsError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    ids, names, scores = _scores_by_id(path, id_column, classes)
    names = list(names) if names is not None else list(truth.classes)
    if scores.ndim != 2 or scores.shape[1] != len(names):
        raise ForeignPredictionsError(
            f"{path}: scores of shape {scores.shape} for {len(names)} classes"
        )
    unknown = [c for c in names if c not in truth.classes]
    missing = [c for c in truth.classes if c not in names]
    if unknown or missing:
        listed = {"unknown": [repr(c) for c in unknown], "missing": [repr(c) for c in missing]}
        raise _mismatch(path, "classes", truth.source, listed)
    scores = scores[:, [names.index(c) for c in truth.classes]]  # (N, C) in the truth's order
    if ids is None:
        if len(scores) != len(truth.ids):
            raise ForeignPredictionsError(
                f"{path}: {len(scores)} rows for the {len(truth.ids)} images of {truth.source}"
            )
        order = np.arange(len(truth.ids))
    else:
        row_of = {i: n for n, i in enumerate(ids)}
        if len(row_of) != len(ids):  # counted once: a COCO-sized list must not go quadratic
            twice = sorted(i for i, n in Counter(ids).items() if n > 1)[:5]
            raise ForeignPredictionsError(f"{path}: images listed twice: {', '.join(twice)}")
        absent = [i for i in truth.ids if i not in row_of]
        extra = sorted(set(ids) - set(truth.ids))
        if absent or extra:
            listed = {"missing": absent, "not in the truth": extra}
            raise _mismatch(path, "images", truth.source, listed)
        order = np.array([row_of[i] for i in truth.ids])
    scores = scores[order]
    return _as_predictions(path, scores, truth, kind)


def _mismatch(
    path: Path, what: str, source: object, listed: dict[str, list[str]]
) -> ForeignPredictionsError:
    """The error for ``what`` (classes, images) of ``path`` that ``source`` does not match:
    each non-empty group named, counted, and its first five shown."""
    groups = "; ".join(
        f"{name} {len(items)} (e.g. {', '.join(items[:5])})"
        for name, items in listed.items()
        if items
    )
    return ForeignPredictionsError(f"{path}: {what} do not match {source}: {groups}")


def _as_predictions(path: Path, scores: np.ndarray, truth: Truth, kind: str | None) -> Predictions:
    known = ~np.isnan(scores)
    inside = bool(((scores[known] >= 0) & (scores[known] <= 1)).all())
    kind = kind or ("probability" if inside else "logit")
    if kind == "probability":
        if not inside:
            i, j = np.argwhere(known & ((scores < 0) | (scores > 1)))[0]
            raise ForeignPredictionsError(
                f"{path}: image {truth.ids[i]}, class {truth.classes[j]!r} scores "
                f"{scores[i, j]:g}, outside [0, 1], though the scores are probabilities "
                "(--kind logit if they are log-odds)"
            )
        probabilities, logits = np.where(known, scores, 0.0), None
    else:
        if not known.all():
            i, j = np.argwhere(~known)[0]
            raise ForeignPredictionsError(
                f"{path}: image {truth.ids[i]} has no score for class {truth.classes[j]!r}"
            )
        logits = scores
        probabilities = 1 / (1 + np.exp(-logits))
    numeric = [int(i) if i.lstrip("-").isdigit() else n for n, i in enumerate(truth.ids)]
    return Predictions(
        scores=probabilities.astype(np.float32),
        targets=truth.targets,
        mask=truth.mask,
        image_ids=np.asarray(numeric, dtype=np.int64),
        classes=list(truth.classes),
        class_groups=[""] * len(truth.classes),
        logits=None if logits is None else logits.astype(np.float32),
    )
