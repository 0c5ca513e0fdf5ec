"""Loss terms against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from scac.losses import label_loss, patch_losses, rpn_loss


def test_label_loss_sums_over_classes_and_averages_over_images():
    logits = torch.tensor([[0.0, 2.0], [-1.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

    def bce(z: float, y: int) -> float:
        p = 1 / (1 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    per = [[bce(0.0, 1), bce(2.0, 0)], [bce(-1.0, 0), bce(0.0, 1)]]
    assert label_loss(logits, targets).item() == pytest.approx(
        (sum(per[0]) + sum(per[1])) / 2, rel=1e-6
    )
    assert label_loss(logits, targets, reduction="mean").item() == pytest.approx(
        (sum(per[0]) / 2 + sum(per[1]) / 2) / 2, rel=1e-6
    )


def test_unknown_labels_count_neither_way():
    logits = torch.tensor([[3.0, -3.0]])
    mask = torch.tensor([[True, False]])
    a = label_loss(logits, torch.tensor([[1.0, 1.0]]), mask)
    b = label_loss(logits, torch.tensor([[1.0, 0.0]]), mask)
    assert a.item() == pytest.approx(b.item())
    with pytest.raises(ValueError, match="reduction must be"):
        label_loss(logits, logits, reduction="max")


@pytest.mark.own_rng  # random weights, inputs or samplers from the global generators
def test_patch_losses_positive_when_iou_reaches_threshold():
    torch.manual_seed(0)
    gt = [torch.tensor([[0.0, 0.0, 10.0, 10.0]])]
    patches = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])]
    deltas = torch.zeros(2, 4, requires_grad=True)
    logits = torch.tensor([5.0, -5.0], requires_grad=True)
    lr, lp = patch_losses(
        patches, deltas, logits, gt, fg_iou=0.5, batch_size=8, positive_fraction=0.5
    )
    assert lr.item() == pytest.approx(0.0)  # the positive patch is exactly the box
    expected = (math.log1p(math.exp(-5.0)) + math.log1p(math.exp(-5.0))) / 2
    assert lp.item() == pytest.approx(expected, rel=1e-5)
    shifted = [torch.tensor([[1.0, 0.0, 11.0, 10.0], [50.0, 50.0, 60.0, 60.0]])]
    lr2, _ = patch_losses(
        shifted, deltas, logits, gt, fg_iou=0.5, batch_size=8, positive_fraction=0.5
    )
    # target dx = 10 * (-1 / 10) = -1: smooth-L1 with beta 1 at |x| = 1 is 0.5
    assert lr2.item() == pytest.approx(0.5, rel=1e-5)


@pytest.mark.own_rng  # random weights, inputs or samplers from the global generators
def test_rpn_loss_is_finite_without_boxes():
    anchors = [torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 12.0, 12.0]])]
    obj, box = rpn_loss(
        torch.zeros(2),
        torch.zeros(2, 4),
        anchors,
        [torch.zeros(0, 4)],
        fg_iou=0.7,
        bg_iou=0.3,
        batch_size=4,
        positive_fraction=0.5,
    )
    assert obj.item() == pytest.approx(math.log(2)) and box.item() == 0.0
