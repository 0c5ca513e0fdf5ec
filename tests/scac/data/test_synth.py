"""The synthetic benchmark: deterministic, COCO-readable, and separable only by context."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from scac.data import scenes, synth

# these tests build models with random weights from the global generators
pytestmark = pytest.mark.own_rng


def test_same_seed_same_dataset_other_seed_other(tmp_path):
    a = synth.generate(tmp_path / "a", seed=5, train=10, val=4)
    b = synth.generate(tmp_path / "b", seed=5, train=10, val=4)
    c = synth.generate(tmp_path / "c", seed=6, train=10, val=4)
    ann = "annotations/instances_train.json"
    assert (a / ann).read_bytes() == (b / ann).read_bytes()
    assert (a / ann).read_bytes() != (c / ann).read_bytes()
    img = "train/000000000003.png"
    assert np.array_equal(np.asarray(Image.open(a / img)), np.asarray(Image.open(b / img)))


def test_a_larger_dataset_extends_a_smaller_one(tmp_path):
    small = synth.generate(tmp_path / "s", seed=1, train=5, val=0)
    large = synth.generate(tmp_path / "l", seed=1, train=9, val=0)
    for i in range(1, 6):
        name = f"train/{i:012d}.png"
        assert (small / name).read_bytes() == (large / name).read_bytes()


def test_pycocotools_reads_what_was_written(synth_root):
    doc = json.loads((synth_root / "annotations" / "instances_train.json").read_text())
    coco = COCO(str(synth_root / "annotations" / "instances_train.json"))
    assert len(coco.getImgIds()) == 40 == len(doc["images"])
    assert len(coco.getAnnIds()) == len(doc["annotations"])
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [c[1] for c in scenes.CATEGORIES]
    for cat in coco.loadCats(coco.getCatIds()):
        expected = sum(a["category_id"] == cat["id"] for a in doc["annotations"])
        assert len(coco.getAnnIds(catIds=[cat["id"]])) == expected
    for ann in doc["annotations"]:
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and 0 <= x and x + w <= 128 and 0 <= y and y + h <= 128


def test_every_ambiguous_object_has_its_context_beside_it_and_distractors_far(synth_root):
    doc = json.loads((synth_root / "annotations" / "instances_train.json").read_text())
    by_id = {a["id"]: a for a in doc["annotations"]}
    names = {c["id"]: c["name"] for c in doc["categories"]}
    params = scenes.SynthParams()
    checked = 0
    for a in doc["annotations"]:
        if "context_id" not in a:
            continue
        ctx = by_id[a["context_id"]]
        assert names[ctx["category_id"]] == scenes.CONTEXT_OF[names[a["category_id"]]]
        assert ctx["image_id"] == a["image_id"]
        x, y, w, h = a["bbox"]
        cx, cy = x + w / 2, y + h / 2
        for other in doc["annotations"]:
            if other["image_id"] != a["image_id"] or other["id"] == ctx["id"]:
                continue
            if names[other["category_id"]] in ("person", "table", "boat"):
                ox, oy, ow, oh = other["bbox"]
                d = scenes.point_box_distance(cx, cy, (ox, oy, ox + ow, oy + oh))
                assert d >= params.distractor_distance[0]
        checked += 1
    assert checked > 20


def _crops(root, split, ratio, size):
    coco = COCO(str(root / "annotations" / f"instances_{split}.json"))
    xs, ys = [], []
    for img_id in coco.getImgIds():
        info = coco.imgs[img_id]
        image = Image.open(root / split / info["file_name"]).convert("RGB")
        for a in coco.imgToAnns[img_id]:
            if a["shape"] != "disk":
                continue
            x, y, w, h = a["bbox"]
            cx, cy = x + w / 2, y + h / 2
            half_w, half_h = w * ratio / 2, h * ratio / 2
            crop = image.crop((cx - half_w, cy - half_h, cx + half_w, cy + half_h)).resize(
                (size, size)
            )
            xs.append(np.asarray(crop, dtype=np.float32) / 255)
            ys.append(a["category_id"] - 4)  # ball, plate, buoy -> 0, 1, 2
    return np.stack(xs), np.array(ys)


def _small_cnn_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of a 3-layer CNN trained on 80% of the crops."""
    torch.manual_seed(0)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    yt = torch.from_numpy(y)
    n_train = int(0.8 * len(yt))
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 3),
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(40):
        for idx in torch.randperm(n_train).split(64):
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((net(xt[n_train:]).argmax(1) == yt[n_train:]).float().mean())


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
    return synth.generate(tmp_path_factory.mktemp("disks"), seed=11, train=400, val=0)


def test_look_alike_disks_are_not_separable_from_their_tight_box(disks):
    x, y = _crops(disks, "train", 1.0, 12)
    assert sorted(set(y.tolist())) == [0, 1, 2] and len(y) > 300
    chance = np.bincount(y).max() / len(y)
    linear = cross_val_score(
        LogisticRegression(max_iter=2000), x.reshape(len(x), -1), y, cv=5
    ).mean()
    cnn = _small_cnn_accuracy(x, y)
    assert linear < chance + 0.08, (
        f"tight crops separate the disks linearly: {linear:.2f} (chance {chance:.2f})"
    )
    assert cnn < chance + 0.1, (
        f"tight crops separate the disks with a CNN: {cnn:.2f} (chance {chance:.2f})"
    )


def test_look_alike_disks_are_separable_from_their_context(disks):
    x, y = _crops(disks, "train", 9.0, 48)  # wide enough to hold the whole deciding object
    cnn = _small_cnn_accuracy(x, y)
    assert cnn > 0.85, f"context crops do not separate the disks: CNN accuracy {cnn:.2f}"


def test_ensure_synth_reuses_and_regenerates_on_version_change(tmp_path, monkeypatch):
    root = synth.ensure_synth(tmp_path, seed=0, train=3, val=2)
    marker = root / "annotations" / "instances_train.json"
    stamp = marker.stat().st_mtime_ns
    assert synth.ensure_synth(tmp_path, seed=0, train=3, val=2) == root
    assert marker.stat().st_mtime_ns == stamp
    manifest = json.loads((root / "synth.json").read_text())
    manifest["version"] = -1
    (root / "synth.json").write_text(json.dumps(manifest))
    again = synth.ensure_synth(tmp_path, seed=0, train=3, val=2)
    assert json.loads((again / "synth.json").read_text())["version"] == synth.GENERATOR_VERSION


def test_negative_counts_raise(tmp_path):
    with pytest.raises(ValueError, match="train=-1"):
        synth.generate(tmp_path, train=-1, val=1)
