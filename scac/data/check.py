"""Validate a dataset tree before training on it, and summarise what the readers will see.

Errors (any makes ``bench data check`` exit non-zero): annotation files missing or unparsable,
image files missing, unreadable or of another size than annotated, boxes empty or outside the
image, categories (COCO) or class names (VOC) not in the class list. Warnings: images without
labels, VOC files without objects. The summary (images, labels per image, images per class,
images without labels, difficult-only labels) comes from the same readers training uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from scac.data.coco import is_box, load_coco, read_coco
from scac.data.images import DatasetError
from scac.data.index import DatasetIndex
from scac.data.voc import VOC_CLASSES, parse_annotation, read_voc, split_names

Progress = Callable[[int, int], None]


@dataclass
class SplitSummary:
    """What the reader makes of one split."""

    split: str
    images: int
    labels_per_image: float
    images_per_class: dict[str, int]
    without_labels: int
    difficult_only: int  # (image, class) pairs whose only objects are VOC "difficult"
    boxes: int


@dataclass
class CheckReport:
    """Errors, warnings and per-split summaries of one dataset tree."""

    root: Path
    format: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    splits: list[SplitSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _image_problem(path: Path, width: int, height: int, decode: bool) -> str | None:
    if not path.is_file():
        return f"missing image {path}"
    try:
        with Image.open(path) as im:
            size = im.size
            if decode:
                im.load()  # a truncated file fails here, not at open
    except (OSError, SyntaxError, ValueError) as err:
        return f"unreadable image {path}: {err}"
    if size != (width, height):
        return f"image {path} is {size[0]}x{size[1]}, annotations say {width}x{height}"
    return None


def _summary(split: str, index: DatasetIndex) -> SplitSummary:
    labels, masks = index.label_matrix(), index.mask_matrix()
    per_class = labels.sum(0).astype(int) if len(labels) else np.zeros(len(index.classes), int)
    return SplitSummary(
        split=split,
        images=len(index.records),
        labels_per_image=float(labels.sum(1).mean()) if len(labels) else 0.0,
        images_per_class={c: int(n) for c, n in zip(index.classes, per_class, strict=True)},
        without_labels=int((labels.sum(1) == 0).sum()) if len(labels) else 0,
        difficult_only=int((~masks).sum()),
        boxes=sum(len(r.boxes) for r in index.records),
    )


def check_coco(
    root: Path, splits: list[str], decode: bool = True, progress: Progress | None = None
) -> CheckReport:
    """Check ``root/annotations/instances_{split}.json`` and ``root/{split}/`` for each split."""
    report = CheckReport(root=root, format="coco")
    for split in splits:
        ann = root / "annotations" / f"instances_{split}.json"
        try:
            coco = load_coco(ann)
        except DatasetError as err:
            report.errors.append(
                f"{err} (expected annotations/instances_{split}.json under {root})"
            )
            continue
        image_dir = root / split
        if not image_dir.is_dir():
            report.errors.append(f"image folder not found: {image_dir}")
        cats = {c["id"] for c in coco.loadCats(coco.getCatIds())}
        ids = sorted(coco.getImgIds())
        fatal = False  # a fault the reader cannot read past: no split summary then
        for done, image_id in enumerate(ids, 1):
            info = coco.imgs[image_id]
            lacking = [k for k in ("file_name", "width", "height") if k not in info]
            if lacking:
                report.errors.append(
                    f"{ann.name}: image {image_id} has no {', '.join(repr(k) for k in lacking)} "
                    "(COCO image records need file_name, width and height)"
                )
                fatal = True
                continue
            if image_dir.is_dir() and (
                problem := _image_problem(
                    image_dir / info["file_name"], info["width"], info["height"], decode
                )
            ):
                report.errors.append(problem)
            for a in coco.imgToAnns.get(image_id, []):
                where = f"{ann.name}: annotation {a.get('id')} of image {image_id}"
                if a.get("category_id") not in cats:
                    report.errors.append(f"{where}: unknown category {a.get('category_id')!r}")
                    fatal = True
                box = a.get("bbox")
                if not is_box(box):
                    report.errors.append(
                        f"{where}: bbox must be 4 numbers [x, y, w, h], got {box!r}"
                    )
                    fatal = True
                    continue
                x, y, w, h = box
                if w <= 0 or h <= 0:
                    report.errors.append(f"{where}: empty box {a['bbox']}")
                elif x < 0 or y < 0 or x + w > info["width"] + 1 or y + h > info["height"] + 1:
                    report.errors.append(
                        f"{where}: box {a['bbox']} outside the "
                        f"{info['width']}x{info['height']} image"
                    )
            if progress:
                progress(done, len(ids))
        if not fatal:
            index = read_coco(ann, image_dir if image_dir.is_dir() else root, keep_empty=True)
            summary = _summary(split, index)
            report.splits.append(summary)
            if summary.without_labels:
                report.warnings.append(f"{split}: {summary.without_labels} images without labels")
    return report


def check_voc(
    root: Path, splits: list[str], decode: bool = True, progress: Progress | None = None
) -> CheckReport:
    """Check ``ImageSets/Main/{split}.txt`` and the XML and JPEG files it lists, for each split."""
    report = CheckReport(root=root, format="voc")
    for split in splits:
        try:
            names = split_names(root, split)
        except DatasetError as err:
            report.errors.append(str(err))
            continue
        fatal = False
        for done, name in enumerate(names, 1):
            xml = root / "Annotations" / f"{name}.xml"
            try:
                width, height, objects = parse_annotation(xml)
            except DatasetError as err:
                report.errors.append(str(err))
                fatal = True
                continue
            if problem := _image_problem(
                root / "JPEGImages" / f"{name}.jpg", width, height, decode
            ):
                report.errors.append(problem)
            if not objects:
                report.warnings.append(f"{xml}: no objects")
            for cls, _difficult, (x1, y1, x2, y2) in objects:
                if cls not in VOC_CLASSES:
                    report.errors.append(f"{xml}: unknown class {cls!r}")
                    fatal = True
                if x2 < x1 or y2 < y1:
                    report.errors.append(f"{xml}: empty box {cls} ({x1}, {y1}, {x2}, {y2})")
                elif x1 < 1 or y1 < 1 or x2 > width or y2 > height:
                    report.errors.append(
                        f"{xml}: box {cls} ({x1}, {y1}, {x2}, {y2}) outside the "
                        f"{width}x{height} image"
                    )
            if progress:
                progress(done, len(names))
        if not fatal:
            report.splits.append(_summary(split, read_voc(root, split, difficult="ignore")))
    return report


def check_dataset(
    root: str | Path,
    format: str,
    splits: list[str] | None = None,
    *,
    decode: bool = True,
    progress: Progress | None = None,
) -> CheckReport:
    """Validate a COCO or VOC tree.

    Args:
        root: dataset folder (COCO: holds ``annotations/``; VOC: ``VOCdevkit/VOC2007``).
        format: ``coco`` or ``voc``.
        splits: splits to check; default: every ``instances_*.json`` (COCO), or ``trainval`` and
            ``test`` (VOC).
        decode: decode every image fully (slow on big sets; catches truncated files).
        progress: ``(done, total)`` per image.
    """
    root = Path(root)
    if not root.is_dir():
        return CheckReport(root=root, format=format, errors=[f"dataset folder not found: {root}"])
    if format == "coco":
        splits = splits or sorted(
            p.stem.removeprefix("instances_")
            for p in (root / "annotations").glob("instances_*.json")
        )
        if not splits:
            return CheckReport(
                root=root, format=format, errors=[f"no annotations/instances_*.json under {root}"]
            )
        return check_coco(root, splits, decode, progress)
    if format == "voc":
        return check_voc(root, splits or ["trainval", "test"], decode, progress)
    raise ValueError(f"format must be 'coco' or 'voc', got {format!r}")
