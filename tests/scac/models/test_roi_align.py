"""Our pyramid RoIAlign matches torchvision's MultiScaleRoIAlign, values and gradients."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign

from scac.models import roi_align as roi_align_module
from scac.models.roi_align import PyramidRoIAlign
from scac.models.spec import FeatureSpec

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


def _case(seed: int, per_image: list[int], size: int = 96):
    g = torch.Generator().manual_seed(seed)
    specs = [FeatureSpec(f"p{i}", 8, 2**i) for i in range(2, 6)]
    feats = OrderedDict(
        (
            s.name,
            torch.randn(
                len(per_image),
                8,
                size // s.stride,
                size // s.stride,
                generator=g,
                requires_grad=True,
            ),
        )
        for s in specs
    )
    boxes = []
    for n in per_image:
        xy = torch.rand(n, 2, generator=g) * (size - 4)
        wh = torch.rand(n, 2, generator=g) * size * 0.8 + 0.5  # from sub-pixel to most of the image
        boxes.append(torch.cat([xy, (xy + wh).clamp(max=size)], 1))
    return specs, feats, boxes


@pytest.mark.parametrize(("seed", "per_image"), [(0, [5, 9, 1]), (1, [0, 7]), (2, [12])])
def test_forward_and_backward_match_torchvision(seed, per_image):
    specs, feats, boxes = _case(seed, per_image)
    ref = MultiScaleRoIAlign([s.name for s in specs], 7, 2, canonical_scale=40)
    ours = PyramidRoIAlign(specs, 7, 2, canonical_scale=40)
    sizes = [(96, 96)] * len(per_image)
    a, b = ref(feats, boxes, sizes), ours(feats, boxes)
    assert a.shape == b.shape
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(a)
    ga = torch.autograd.grad(a, list(feats.values()), grad, allow_unused=True)
    gb = torch.autograd.grad(b, list(feats.values()), grad, allow_unused=True)
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(torch.zeros_like(x) if y is None else y, x, atol=1e-5, rtol=1e-5)


def test_level_mapping_follows_fpn_eq1():
    specs = [FeatureSpec(f"p{i}", 4, 2**i) for i in range(2, 6)]
    pool = PyramidRoIAlign(specs, 7, 2, canonical_scale=224)
    sides = torch.tensor([10.0, 111.0, 112.0, 224.0, 447.0, 448.0, 2000.0])
    boxes = torch.stack([torch.zeros(7), torch.zeros(7), sides, sides], 1)
    assert pool.level_of(boxes).tolist() == [0, 0, 1, 2, 2, 3, 3]


def test_patches_over_the_border_and_of_mixed_sizes_match_torchvision():
    # the CPU path reads a window around each patch, as wide as the level's widest patch:
    # patches hanging over every border, sub-pixel ones and one as large as the map share a level
    g = torch.Generator().manual_seed(3)
    spec = FeatureSpec("p2", 6, 4)
    feats = OrderedDict(p2=torch.randn(2, 6, 16, 16, generator=g, requires_grad=True))
    boxes = [
        torch.tensor(
            [[-6.0, -6.0, 10.0, 10.0], [50.0, 52.0, 70.0, 69.0], [30.0, 30.0, 30.5, 30.2]]
        ),
        torch.tensor([[0.0, 0.0, 64.0, 64.0], [-3.0, 40.0, 5.0, 63.9], [61.0, 0.0, 64.0, 3.0]]),
    ]
    ref = MultiScaleRoIAlign(["p2"], 5, 2, canonical_scale=10_000)  # every patch on p2
    ours = PyramidRoIAlign([spec], 5, 2, canonical_scale=10_000)
    a, b = ref(feats, boxes, [(64, 64)] * 2), ours(feats, boxes)
    torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(a)
    (ga,) = torch.autograd.grad(a, feats["p2"], grad)
    (gb,) = torch.autograd.grad(b, feats["p2"], grad)
    torch.testing.assert_close(gb, ga, atol=1e-5, rtol=1e-5)


def test_many_patches_are_pooled_in_chunks_with_the_same_result(monkeypatch):
    specs, feats, boxes = _case(4, [40, 35])
    ref = MultiScaleRoIAlign([s.name for s in specs], 7, 2, canonical_scale=40)
    ours = PyramidRoIAlign(specs, 7, 2, canonical_scale=40)
    whole = ours(feats, boxes)
    # windows of 8 channels x at most 24 x 24 pixels: a few patches per chunk
    monkeypatch.setattr(roi_align_module, "WINDOW_BYTES", 4 * 8 * 24 * 24 * 4)
    chunked = ours(feats, boxes)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(chunked, ref(feats, boxes, [(96, 96)] * 2), atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(whole)
    ga = torch.autograd.grad(whole, list(feats.values()), grad, allow_unused=True)
    gb = torch.autograd.grad(chunked, list(feats.values()), grad, allow_unused=True)
    for x, y in zip(ga, gb, strict=True):
        if x is not None:
            torch.testing.assert_close(y, x, atol=1e-5, rtol=1e-5)
