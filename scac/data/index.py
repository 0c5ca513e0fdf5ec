"""The format-independent view of a split: one record per image, labels already decided.

Readers (COCO, VOC, the synthetic benchmark through COCO) turn their annotation formats into a
:class:`DatasetIndex`; one image dataset (``scac.data.images``) serves them all. Every label
convention (crowd boxes, VOC "difficult", images without annotations, class order) is applied
by the reader, once, where it is documented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class ImageRecord:
    """One image of a split.

    Attributes:
        image_id: integer id (COCO's id; VOC's name without underscores, e.g. 2008_000002 ->
            2008000002).
        name: the dataset's own name of the image (COCO file name, VOC id).
        file: path of the image file.
        width: width in pixels, from the annotations.
        height: height in pixels, from the annotations.
        boxes: (N, 4) float32 x1 y1 x2 y2 in pixels: the boxes box losses train on (crowd boxes
            excluded).
        box_labels: (N,) int64 class index of each box.
        labels: (C,) float32 0/1 image labels.
        mask: (C,) bool, False where the label is unknown or ignored (VOC difficult-only).
        difficult: (N,) bool, True for VOC objects marked difficult.
    """

    image_id: int
    name: str
    file: Path
    width: int
    height: int
    boxes: np.ndarray
    box_labels: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class DatasetIndex:
    """All images of one split, with their class list.

    Attributes:
        classes: C class names, in label order.
        groups: C group names (the synthetic benchmark's ``ambiguous`` ...), or empty strings.
        records: one record per image, in a fixed order.
        source: the annotation file or folder the index was read from.
    """

    classes: list[str]
    groups: list[str]
    records: list[ImageRecord]
    source: Path

    def label_matrix(self) -> np.ndarray:
        """(N, C) float32 labels of every image."""
        return (
            np.stack([r.labels for r in self.records])
            if self.records
            else np.zeros((0, len(self.classes)))
        )

    def mask_matrix(self) -> np.ndarray:
        """(N, C) bool masks of every image."""
        if not self.records:
            return np.zeros((0, len(self.classes)), dtype=bool)
        return np.stack([r.mask for r in self.records])
