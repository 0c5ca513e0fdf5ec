"""Small dataset trees in the real COCO and VOC formats, written by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
]


def _jpeg(path: Path, size: tuple[int, int], shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (shade, 255 - shade, 90)).save(path, quality=90)


def _truncated_jpeg(path: Path, size: tuple[int, int]) -> None:
    _jpeg(path, size, 30)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def write_coco_tree(root: Path) -> Path:
    """COCO 2014 layout: a crowd box, an image without annotations, a corrupt and a missing JPEG.

    train2014 (64x48 images):
      1: person box + car box            2: crowd person + dog box (and a degenerate dog box)
      3: no annotations                  4: truncated JPEG (car)    5: file missing (dog)
    val2014: 6 (person), 7 (car). val2017 lists images 1 and 6 under 2017 file names.
    """

    def name(split: str, i: int) -> str:
        return f"COCO_{split}_{i:012d}.jpg"

    def ann(aid, image, cat, bbox, crowd=0):
        return {
            "id": aid,
            "image_id": image,
            "category_id": cat,
            "bbox": bbox,
            "area": bbox[2] * bbox[3],
            "iscrowd": crowd,
        }

    train_images = [
        {"id": i, "file_name": name("train2014", i), "width": 64, "height": 48} for i in range(1, 6)
    ]
    train_anns = [
        ann(1, 1, 1, [2, 3, 10, 20]),
        ann(2, 1, 3, [30, 10, 20, 15]),
        ann(3, 2, 1, [0, 0, 64, 48], crowd=1),
        ann(4, 2, 18, [5, 5, 8, 8]),
        ann(5, 2, 18, [9, 9, 0, 4]),
        ann(6, 4, 3, [1, 1, 5, 5]),
        ann(7, 5, 18, [2, 2, 6, 6]),
    ]
    val_images = [
        {"id": i, "file_name": name("val2014", i), "width": 64, "height": 48} for i in (6, 7)
    ]
    val_anns = [ann(8, 6, 1, [4, 4, 20, 30]), ann(9, 7, 3, [10, 10, 12, 12])]
    (root / "annotations").mkdir(parents=True)
    for split, images, anns in (
        ("train2014", train_images, train_anns),
        ("val2014", val_images, val_anns),
    ):
        doc = {"images": images, "annotations": anns, "categories": COCO_CATEGORIES}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    for i in (1, 2, 3):
        _jpeg(root / "train2014" / name("train2014", i), (64, 48), 40 * i)
    _truncated_jpeg(root / "train2014" / name("train2014", 4), (64, 48))
    for i in (6, 7):
        _jpeg(root / "val2014" / name("val2014", i), (64, 48), 20 * i)
    v2017 = {
        "images": [
            {"id": i, "file_name": f"{i:012d}.jpg", "width": 64, "height": 48} for i in (1, 6)
        ],
        "annotations": [],
        "categories": COCO_CATEGORIES,
    }
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(v2017))
    return root


def _voc_xml(
    width: int, height: int, objects: list[tuple[str, int, tuple[int, int, int, int]]]
) -> str:
    objs = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>{d}</difficult>"
        f"<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, d, b in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><filename>x.jpg</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size><segmented>0</segmented>{objs}</annotation>"
    )


def write_voc_tree(root: Path) -> Path:
    """VOCdevkit/VOC2007: a difficult-only class, an XML without objects, corrupt and missing JPEGs.

    000001: dog + person (difficult only)    000002: cat + cat (difficult)
    000003: no objects                        000004: truncated JPEG (bird)
    000005: JPEG missing (car)
    trainval = 1, 2, 3; test = 2, 4, 5. Images are 50 wide, 40 high.
    """
    voc = root / "VOCdevkit" / "VOC2007"
    ann = {
        "000001": [("dog", 0, (1, 1, 20, 30)), ("person", 1, (25, 5, 50, 40))],
        "000002": [("cat", 0, (5, 5, 15, 15)), ("cat", 1, (20, 20, 30, 30))],
        "000003": [],
        "000004": [("bird", 0, (1, 1, 10, 10))],
        "000005": [("car", 0, (2, 2, 12, 12))],
    }
    (voc / "Annotations").mkdir(parents=True)
    for name, objects in ann.items():
        (voc / "Annotations" / f"{name}.xml").write_text(_voc_xml(50, 40, objects))
    for k, name in enumerate(("000001", "000002", "000003")):
        _jpeg(voc / "JPEGImages" / f"{name}.jpg", (50, 40), 60 * k)
    _truncated_jpeg(voc / "JPEGImages" / "000004.jpg", (50, 40))
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("000001\n000002\n000003\n")
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000002\n000004\n000005\n")
    return voc
