"""COCO-format annotations (``instances_*.json``) read through pycocotools into a split index.

Conventions, each an option with the default the SCAC paper's counts imply:

* ``keep_empty`` (default True): keep images without any annotation, as negatives for every
  class. COCO 2014 has 82,783 train / 40,504 val images in all (what the SCAC poster reports),
  82,081 / 40,137 with annotations (what ML-GCN's preprocessed lists hold).
* ``class_order``: ``id`` (default: ascending category id, the COCO order) or ``alphabetical``
  (by name, as ML-GCN's ``category.json``).
* ``crowd``: ``label`` (default: a crowd annotation makes its class positive, but its box is not
  used by box losses: it covers many objects) or ``ignore`` (dropped entirely).

Degenerate boxes (zero width or height) keep their label but are left out of the box losses.
An annotation whose category is not in the file's category list is an error naming both.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TypeGuard

import numpy as np
from pycocotools.coco import COCO

from scac.data.images import DatasetError, ImageDataset
from scac.data.index import DatasetIndex, ImageRecord

CLASS_ORDERS = ("id", "alphabetical")
CROWD_POLICIES = ("label", "ignore")


def load_coco(ann_file: Path) -> COCO:
    """pycocotools' index of ``ann_file``; a missing or unreadable file names itself."""
    if not ann_file.is_file():
        raise DatasetError(f"annotation file not found: {ann_file}")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        try:
            return COCO(str(ann_file))
        except Exception as err:  # noqa: BLE001 - json or format errors of any kind
            raise DatasetError(f"cannot read COCO annotations {ann_file}: {err}") from None


def is_box(box: object) -> TypeGuard[list[float] | tuple[float, ...]]:
    """A COCO box: a list of 4 numbers ``[x, y, w, h]`` (not booleans, not strings)."""
    return (
        isinstance(box, list | tuple)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    )


def read_coco(
    ann_file: str | Path,
    image_dir: str | Path,
    *,
    keep_empty: bool = True,
    class_order: str = "id",
    crowd: str = "label",
) -> DatasetIndex:
    """Index a COCO-format split.

    Args:
        ann_file: the instances JSON.
        image_dir: folder of the image files it names.
        keep_empty: keep images without annotations.
        class_order: ``id`` or ``alphabetical``.
        crowd: ``label`` or ``ignore`` (see the module docstring).
    """
    if class_order not in CLASS_ORDERS:
        raise ValueError(
            f"data.class_order must be one of {list(CLASS_ORDERS)}, got {class_order!r}"
        )
    if crowd not in CROWD_POLICIES:
        raise ValueError(f"data.crowd must be one of {list(CROWD_POLICIES)}, got {crowd!r}")
    ann_file, image_dir = Path(ann_file), Path(image_dir)
    coco = load_coco(ann_file)
    if not image_dir.is_dir():
        raise DatasetError(f"image folder not found: {image_dir} (the images of {ann_file.name})")
    cats = sorted(
        coco.loadCats(coco.getCatIds()), key=lambda c: c["id"] if class_order == "id" else c["name"]
    )
    index_of = {c["id"]: i for i, c in enumerate(cats)}
    records = []
    for image_id in sorted(coco.getImgIds()):
        anns = coco.imgToAnns.get(image_id, [])
        if anns or keep_empty:
            info = coco.imgs[image_id]
            records.append(_record(ann_file, image_dir, image_id, info, anns, index_of, crowd))
    return DatasetIndex(
        classes=[c["name"] for c in cats],
        groups=[c.get("group", "") for c in cats],
        records=records,
        source=ann_file,
    )


def _record(
    ann_file: Path,
    image_dir: Path,
    image_id: int,
    info: dict,
    anns: list[dict],
    index_of: dict[int, int],
    crowd: str,
) -> ImageRecord:
    """One image's record: its labels (crowd boxes as ``crowd`` says) and its usable boxes."""
    lacking = [k for k in ("file_name", "width", "height") if k not in info]
    if lacking:
        raise DatasetError(
            f"{ann_file}: image {image_id} has no {', '.join(repr(k) for k in lacking)} "
            f"(COCO image records need file_name, width and height)"
        )
    n_classes = len(index_of)
    labels = np.zeros(n_classes, dtype=np.float32)
    boxes, box_labels = [], []
    for a in anns:
        if a.get("category_id") not in index_of:
            raise DatasetError(
                f"{ann_file}: annotation {a.get('id')} of image {image_id} has category "
                f"{a.get('category_id')!r}, which is not in the file's categories"
            )
        if a.get("iscrowd", 0) and crowd == "ignore":
            continue
        labels[index_of[a["category_id"]]] = 1.0
        box = a.get("bbox")
        if not is_box(box):
            raise DatasetError(
                f"{ann_file}: annotation {a.get('id')} of image {image_id} needs a 'bbox' of "
                f"4 numbers [x, y, w, h], got {box!r}"
            )
        x, y, w, h = box
        if a.get("iscrowd", 0) or w <= 0 or h <= 0:
            continue  # crowd and degenerate boxes: label only
        boxes.append([x, y, x + w, y + h])
        box_labels.append(index_of[a["category_id"]])
    return ImageRecord(
        image_id=int(image_id),
        name=info["file_name"],
        file=image_dir / info["file_name"],
        width=int(info["width"]),
        height=int(info["height"]),
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        box_labels=np.asarray(box_labels, dtype=np.int64),
        labels=labels,
        mask=np.ones(n_classes, dtype=bool),
    )


class CocoMultiLabel(ImageDataset):
    """A COCO-format split as model inputs (see :func:`read_coco` and ``ImageDataset``).

    Args:
        ann_file: the instances JSON.
        image_dir: folder of the image files.
        image_size: side of the square model input.
        hflip: random horizontal flips (seeded per epoch and image).
        seed: seed of the flips.
        cache_images: keep decoded, resized images in memory.
        **options: ``keep_empty``, ``class_order``, ``crowd`` of :func:`read_coco`.
    """

    def __init__(
        self,
        ann_file: str | Path,
        image_dir: str | Path,
        *,
        image_size: int,
        hflip: bool = False,
        seed: int = 0,
        cache_images: bool = False,
        **options,
    ) -> None:
        self.ann_file = Path(ann_file)
        super().__init__(
            read_coco(ann_file, image_dir, **options),
            image_size=image_size,
            hflip=hflip,
            seed=seed,
            cache_images=cache_images,
        )
