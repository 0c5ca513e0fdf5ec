"""The COCO-format reader: labels, boxes, resize and flip kept consistent, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from scac.data import CocoMultiLabel, DatasetError, collate
from scac.data.images import flip_decision


def _write(tmp_path, images, annotations, categories, sizes=None):
    (tmp_path / "img").mkdir()
    for im in images:
        w, h = (sizes or {}).get(im["id"], (im["width"], im["height"]))
        Image.new("RGB", (w, h), (im["id"] * 20, 0, 0)).save(tmp_path / "img" / im["file_name"])
    ann = tmp_path / "instances.json"
    ann.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return ann, tmp_path / "img"


CATS = [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 11, "name": "cow"}]


def test_labels_are_contiguous_in_category_id_order_and_boxes_xyxy(tmp_path):
    images = [
        {"id": 1, "file_name": "a.png", "width": 40, "height": 20},
        {"id": 2, "file_name": "b.png", "width": 40, "height": 20},
    ]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [4, 2, 10, 6], "area": 60, "iscrowd": 0},
        {
            "id": 2,
            "image_id": 1,
            "category_id": 11,
            "bbox": [0, 0, 40, 20],
            "area": 800,
            "iscrowd": 0,
        },
    ]
    ann, img = _write(tmp_path, images, anns, CATS)
    ds = CocoMultiLabel(ann, img, image_size=80)
    assert ds.classes == ["cat", "dog", "cow"]
    s = ds[0]
    assert s.labels.tolist() == [0.0, 1.0, 1.0]
    assert s.box_labels.tolist() == [1, 2]
    # 40x20 -> 80x80: x scales by 2, y by 4
    assert torch.allclose(s.boxes, torch.tensor([[8.0, 8.0, 28.0, 32.0], [0.0, 0.0, 80.0, 80.0]]))
    assert s.image.shape == (3, 80, 80) and s.image.dtype == torch.uint8
    empty = ds[1]
    assert empty.labels.sum() == 0 and empty.boxes.shape == (0, 4)


def test_flip_moves_boxes_with_the_image(tmp_path):
    images = [{"id": i, "file_name": f"{i}.png", "width": 32, "height": 32} for i in range(1, 9)]
    anns = [
        {"id": i, "image_id": i, "category_id": 3, "bbox": [2, 4, 6, 8], "area": 48, "iscrowd": 0}
        for i in range(1, 9)
    ]
    ann, img = _write(tmp_path, images, anns, CATS)
    ds = CocoMultiLabel(ann, img, image_size=32, hflip=True, seed=4)
    flipped = [ds[i] for i in range(8)]
    assert any(s.flipped for s in flipped) and not all(s.flipped for s in flipped)
    for i, s in enumerate(flipped):
        assert s.flipped == flip_decision(4, 0, i)
        expected = [32 - 8, 4, 32 - 2, 12] if s.flipped else [2, 4, 8, 12]
        assert s.boxes[0].tolist() == expected
    ds.set_epoch(1)
    assert [ds[i].flipped for i in range(8)] == [flip_decision(4, 1, i) for i in range(8)]


def test_collate_normalises_and_keeps_per_image_boxes(tmp_path):
    images = [{"id": i, "file_name": f"{i}.png", "width": 16, "height": 16} for i in (1, 2)]
    anns = [
        {"id": 1, "image_id": 2, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}
    ]
    ann, img = _write(tmp_path, images, anns, CATS)
    ds = CocoMultiLabel(ann, img, image_size=16)
    batch = collate([ds[0], ds[1]])
    assert batch.images.shape == (2, 3, 16, 16) and batch.images.dtype == torch.float32
    assert [len(b) for b in batch.boxes] == [0, 1]
    assert batch.labels.tolist() == [[0, 0, 0], [1, 0, 0]]
    assert batch.image_ids.tolist() == [1, 2]


def test_missing_files_and_bad_sizes_name_the_file(tmp_path):
    images = [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}]
    ann, img = _write(tmp_path, images, [], CATS, sizes={1: (12, 10)})
    with pytest.raises(DatasetError, match="annotation file not found: .*nope.json"):
        CocoMultiLabel(tmp_path / "nope.json", img, image_size=8)
    with pytest.raises(DatasetError, match="image folder not found"):
        CocoMultiLabel(ann, tmp_path / "nowhere", image_size=8)
    ds = CocoMultiLabel(ann, img, image_size=8)
    with pytest.raises(DatasetError, match=r"a.png is 12x10, annotations say 10x10"):
        ds[0]
    (img / "a.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="cannot decode image .*a.png"):
        ds[0]
    (img / "a.png").unlink()
    with pytest.raises(DatasetError, match="image file not found: .*a.png"):
        ds[0]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read COCO annotations .*bad.json"):
        CocoMultiLabel(bad, img, image_size=8)


def test_an_image_record_without_file_name_names_the_file_and_image(tmp_path):
    """Issue 15: such a file stopped a run with ``error: file_name``."""
    images = [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}, {"id": 7, "width": 10}]
    ann, img = _write(tmp_path, images[:1], [], CATS)
    doc = json.loads(ann.read_text())
    doc["images"].append(images[1])
    ann.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"json: image 7 has no 'file_name', 'height'"):
        CocoMultiLabel(ann, img, image_size=8)
