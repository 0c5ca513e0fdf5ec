"""The partial-label protocol: seeded unknown labels, images without labels ignored."""

from __future__ import annotations

import pytest
import torch

from scac.data import CocoMultiLabel
from scac.data.partial import PartialLabels


@pytest.fixture
def train(synth_root):
    return CocoMultiLabel(
        synth_root / "annotations" / "instances_train.json", synth_root / "train", image_size=32
    )


def test_share_of_unknown_labels_and_determinism(train):
    p = PartialLabels(train, 0.5, seed=3)
    again = PartialLabels(train, 0.5, seed=3)
    other = PartialLabels(train, 0.5, seed=4)
    assert torch.equal(p.known, again.known) and not torch.equal(p.known, other.known)
    share = 1 - p.known.float().mean().item()
    assert 0.35 < share < 0.55  # ignored all-unknown images remove a few unknown entries
    s = p[0]
    assert torch.equal(s.label_mask, p.known[0]) and s.index == 0
    assert torch.equal(s.labels, train[int(p.indices[0])].labels)  # labels kept, only masked


def test_images_left_without_labels_are_ignored(train):
    p = PartialLabels(train, 0.95, seed=0)
    assert len(p) < len(train)
    assert bool(p.known.any(1).all())
    assert p.classes == train.classes


def test_proportion_outside_range_fails():
    with pytest.raises(ValueError, match=r"data.drop_labels must be in \[0, 1\)"):
        PartialLabels(None, 1.0)
