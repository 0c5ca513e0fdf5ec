"""PASCAL VOC 2007 (``VOCdevkit/VOC2007``): ``ImageSets/Main/{split}.txt``, ``Annotations/*.xml``.

The 20 classes in the standard order. Objects marked ``difficult`` keep their boxes (flagged),
and their label follows an explicit policy:

* for training (``data.difficult_train``, default ``positive``, as ML-GCN: a difficult object is
  still the class), or ``negative``, or ``ignore`` (the label is unknown: masked);
* for evaluation (``data.difficult_eval``, default ``ignore``, the VOC protocol: an image whose
  only objects of a class are difficult counts neither way for that class's AP).

A class with at least one non-difficult object is simply positive. VOC boxes are 1-based and
inclusive; they become 0-based ``x1 y1 x2 y2`` with ``x1 = xmin - 1``, ``x2 = xmax``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from scac.data.images import DatasetError
from scac.data.index import DatasetIndex, ImageRecord

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
DIFFICULT_POLICIES = ("positive", "negative", "ignore")


def voc_image_id(name: str) -> int:
    """Integer id of a VOC image name: ``000005`` -> 5, ``2008_000002`` -> 2008000002."""
    digits = name.replace("_", "")
    if not digits.isdigit():
        raise DatasetError(f"VOC image name {name!r} is not numeric")
    return int(digits)


def split_names(root: Path, split: str) -> list[str]:
    """Image names listed in ``ImageSets/Main/{split}.txt``."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(
            f"VOC split file not found: {path} (expected ImageSets/Main/{split}.txt under {root})"
        )
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _text(node: ET.Element | None, tag: str, default: str | None = None) -> str:
    """The text of ``node``'s child ``tag`` (or ``default``); a missing one raises, naming it."""
    text = None if node is None else node.findtext(tag, default)
    if text is None:
        raise ValueError(f"no <{tag}> element")
    return text


def parse_annotation(
    path: Path,
) -> tuple[int, int, list[tuple[str, bool, tuple[float, float, float, float]]]]:
    """(width, height, [(class name, difficult, (xmin, ymin, xmax, ymax))]) of one VOC XML file."""
    if not path.is_file():
        raise DatasetError(f"VOC annotation file not found: {path}")
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        width, height = int(_text(size, "width")), int(_text(size, "height"))
        objects = []
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            x1, y1, x2, y2 = (float(_text(box, k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            objects.append(
                (
                    _text(obj, "name").strip(),
                    _text(obj, "difficult", "0").strip() == "1",
                    (x1, y1, x2, y2),
                )
            )
    except (ET.ParseError, AttributeError, TypeError, ValueError) as err:
        raise DatasetError(f"cannot parse VOC annotation {path}: {err}") from None
    return width, height, objects


def read_voc(root: str | Path, split: str, *, difficult: str = "positive") -> DatasetIndex:
    """Index a VOC split.

    Args:
        root: the VOC year folder (``VOCdevkit/VOC2007``).
        split: ``trainval``, ``test``, ``train``, ``val``.
        difficult: label policy for classes present only as difficult objects: ``positive``,
            ``negative`` or ``ignore`` (masked).
    """
    if difficult not in DIFFICULT_POLICIES:
        raise ValueError(
            f"difficult policy must be one of {list(DIFFICULT_POLICIES)}, got {difficult!r}"
        )
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"VOC folder not found: {root} (expected VOCdevkit/VOC2007)")
    index_of = {c: i for i, c in enumerate(VOC_CLASSES)}
    records = []
    for name in split_names(root, split):
        xml = root / "Annotations" / f"{name}.xml"
        width, height, objects = parse_annotation(xml)
        labels = np.zeros(len(VOC_CLASSES), dtype=np.float32)
        mask = np.ones(len(VOC_CLASSES), dtype=bool)
        easy: set[int] = set()
        hard: set[int] = set()
        boxes, box_labels, flags = [], [], []
        for cls, is_difficult, (x1, y1, x2, y2) in objects:
            if cls not in index_of:
                raise DatasetError(
                    f"{xml}: unknown class {cls!r}; VOC classes: {', '.join(VOC_CLASSES)}"
                )
            (hard if is_difficult else easy).add(index_of[cls])
            boxes.append([x1 - 1, y1 - 1, x2, y2])
            box_labels.append(index_of[cls])
            flags.append(is_difficult)
        labels[list(easy)] = 1.0
        only_difficult = list(hard - easy)
        if difficult == "positive":
            labels[only_difficult] = 1.0
        elif difficult == "ignore":
            mask[only_difficult] = False
        records.append(
            ImageRecord(
                image_id=voc_image_id(name),
                name=name,
                file=root / "JPEGImages" / f"{name}.jpg",
                width=width,
                height=height,
                boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                box_labels=np.asarray(box_labels, dtype=np.int64),
                labels=labels,
                mask=mask,
                difficult=np.asarray(flags, dtype=bool),
            )
        )
    return DatasetIndex(
        classes=list(VOC_CLASSES), groups=[""] * len(VOC_CLASSES), records=records, source=root
    )
