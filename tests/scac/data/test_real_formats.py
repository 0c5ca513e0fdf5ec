"""COCO and VOC readers on small trees in the real formats: labels, boxes, masks, conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scac.data import DatasetError, ImageDataset, read_coco, read_voc
from scac.data.check import check_dataset
from scac.data.overlap import overlap
from tests.formats import write_coco_tree, write_voc_tree


@pytest.fixture
def coco(tmp_path):
    return write_coco_tree(tmp_path / "coco")


@pytest.fixture
def voc(tmp_path):
    return write_voc_tree(tmp_path)


def _coco_train(root, **kw):
    return read_coco(root / "annotations" / "instances_train2014.json", root / "train2014", **kw)


def test_coco_labels_boxes_and_crowd(coco):
    index = _coco_train(coco)
    assert index.classes == ["person", "car", "dog"]
    r = {rec.image_id: rec for rec in index.records}
    assert sorted(r) == [1, 2, 3, 4, 5]
    assert r[1].labels.tolist() == [1, 1, 0]
    np.testing.assert_array_equal(r[1].boxes, [[2, 3, 12, 23], [30, 10, 50, 25]])
    assert r[1].box_labels.tolist() == [0, 1]
    # crowd person: positive label, no box; degenerate dog box: label only
    assert r[2].labels.tolist() == [1, 0, 1]
    np.testing.assert_array_equal(r[2].boxes, [[5, 5, 13, 13]])
    assert r[2].box_labels.tolist() == [2]
    assert r[3].labels.tolist() == [0, 0, 0] and r[3].boxes.shape == (0, 4)
    assert all(rec.mask.all() for rec in index.records)
    assert r[1].file.name == "COCO_train2014_000000000001.jpg"


def test_coco_options(coco):
    assert [rec.image_id for rec in _coco_train(coco, keep_empty=False).records] == [1, 2, 4, 5]
    alpha = _coco_train(coco, class_order="alphabetical")
    assert alpha.classes == ["car", "dog", "person"]
    assert {rec.image_id: rec.labels.tolist() for rec in alpha.records}[1] == [1, 0, 1]
    ignored = {rec.image_id: rec for rec in _coco_train(coco, crowd="ignore").records}
    assert ignored[2].labels.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="data.crowd must be one of"):
        _coco_train(coco, crowd="box")


def test_coco_images_corrupt_and_missing_fail_or_are_skipped(coco, tmp_path):
    ds = ImageDataset(_coco_train(coco), image_size=32)
    assert ds[0].image.shape == (3, 32, 32)
    # boxes scaled from 64x48 to 32x32
    assert torch.allclose(ds[0].boxes[0], torch.tensor([1.0, 2.0, 6.0, 23 * 32 / 48]))
    with pytest.raises(DatasetError, match="cannot decode image .*COCO_train2014_000000000004.jpg"):
        ds[3]
    with pytest.raises(
        DatasetError, match="image file not found: .*COCO_train2014_000000000005.jpg"
    ):
        ds[4]
    log = tmp_path / "skipped.txt"
    skipping = ImageDataset(_coco_train(coco), image_size=32, skip_bad=True, bad_log=log)
    assert skipping[3] is None and skipping[4] is None and skipping[0] is not None
    assert len(log.read_text().splitlines()) == 2 and "000000000005" in log.read_text()


def test_coco_unknown_category_and_missing_files_are_named(coco):
    import json

    path = coco / "annotations" / "instances_train2014.json"
    doc = json.loads(path.read_text())
    doc["annotations"].append(
        {"id": 99, "image_id": 1, "category_id": 77, "bbox": [1, 1, 2, 2], "iscrowd": 0}
    )
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="annotation 99 of image 1 has category 77"):
        _coco_train(coco)
    with pytest.raises(DatasetError, match="annotation file not found: .*instances_test2014.json"):
        read_coco(coco / "annotations" / "instances_test2014.json", coco / "train2014")


def test_voc_difficult_policies(voc):
    train = {r.name: r for r in read_voc(voc, "trainval").records}  # difficult -> positive
    dog, person, cat = 11, 14, 7
    assert train["000001"].labels[[dog, person]].tolist() == [1, 1] and train["000001"].mask.all()
    assert train["000002"].labels[cat] == 1 and train["000002"].difficult.tolist() == [False, True]
    np.testing.assert_array_equal(train["000001"].boxes, [[0, 0, 20, 30], [24, 4, 50, 40]])
    assert train["000003"].labels.sum() == 0 and train["000003"].boxes.shape == (0, 4)
    assert train["000001"].image_id == 1
    neg = {r.name: r for r in read_voc(voc, "trainval", difficult="negative").records}
    assert neg["000001"].labels[person] == 0 and neg["000001"].mask[person]
    ign = {r.name: r for r in read_voc(voc, "trainval", difficult="ignore").records}
    assert ign["000001"].labels[person] == 0 and not ign["000001"].mask[person]
    assert ign["000002"].labels[cat] == 1 and ign["000002"].mask[cat]  # one easy cat: positive
    assert int((~ign["000001"].mask).sum()) == 1


def test_voc_errors_name_file_and_expectation(voc, tmp_path):
    with pytest.raises(
        DatasetError, match=r"VOC split file not found: .*val.txt \(expected ImageSets/Main/val.txt"
    ):
        read_voc(voc, "val")
    with pytest.raises(DatasetError, match="VOC folder not found"):
        read_voc(tmp_path / "nowhere", "trainval")
    (voc / "Annotations" / "000002.xml").write_text("<annotation><size>")
    with pytest.raises(DatasetError, match="cannot parse VOC annotation .*000002.xml"):
        read_voc(voc, "trainval")


def test_data_check_coco_report(coco):
    report = check_dataset(coco, "coco", ["train2014"])
    assert not report.ok
    assert len(report.errors) == 3, report.errors
    assert any("unreadable image" in e and "000000000004" in e for e in report.errors)
    assert any("missing image" in e and "000000000005" in e for e in report.errors)
    assert any("annotation 5 of image 2: empty box" in e for e in report.errors)
    (s,) = report.splits
    assert (s.images, s.without_labels, s.boxes) == (5, 1, 5)
    assert s.images_per_class == {"person": 2, "car": 2, "dog": 2}
    assert s.labels_per_image == pytest.approx(6 / 5)
    assert report.warnings == ["train2014: 1 images without labels"]
    clean = check_dataset(coco, "coco", ["val2014"])
    assert clean.ok and clean.splits[0].images == 2


def test_data_check_voc_report(voc):
    report = check_dataset(voc, "voc")
    assert sorted(e.split(":")[0] for e in report.errors) == [
        "missing image " + str(voc / "JPEGImages" / "000005.jpg"),
        "unreadable image " + str(voc / "JPEGImages" / "000004.jpg"),
    ]
    assert report.warnings == [f"{voc / 'Annotations' / '000003.xml'}: no objects"]
    trainval, test = report.splits
    assert (trainval.images, trainval.without_labels, trainval.difficult_only, trainval.boxes) == (
        3,
        1,
        1,
        4,
    )
    assert trainval.images_per_class["dog"] == 1 and trainval.images_per_class["cat"] == 1
    assert trainval.images_per_class["person"] == 0  # difficult only: ignored
    assert test.images == 3


def test_overlap_by_id_name_and_number(coco):
    o = overlap(
        coco / "annotations" / "instances_val2017.json",
        coco / "annotations" / "instances_train2014.json",
    )
    assert (o.a_images, o.b_images) == (2, 5)
    assert o.same_id == [1] and o.same_name == [] and o.same_number == [1]
    o2 = overlap(
        coco / "annotations" / "instances_val2017.json",
        coco / "annotations" / "instances_val2014.json",
    )
    assert o2.same_id == [6] and o2.same_number == [6]
