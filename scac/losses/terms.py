"""Loss terms as pure functions over tensors (no module computes its own loss).

* :func:`label_loss`: eq. 5, binary cross-entropy over the C labels of each image, summed over
  classes (or averaged) and averaged over images; a mask drops unknown labels (partial labels,
  VOC "difficult") so they count neither as positive nor as negative.
* :func:`patch_label_targets`: each patch's labels from the ground-truth box it matches, for
  the patch-level reading of L_l (``loss.label_targets = "patch"``).
* :func:`patch_losses`: eq. 2-4, the box regressor's smooth-L1 (beta = 1, eq. 3) on positive
  patches and the patch classifier's binary cross-entropy on a balanced sample of patches, with
  p* = 1 when a patch's best IoU with a ground-truth box reaches ``fg_iou``.
* :func:`rpn_loss`: the region proposal network's objectness and box terms, as Faster R-CNN.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import box_iou

# Faster R-CNN's encodings: RPN deltas unweighted, second-stage deltas weighted (10, 10, 5, 5)
RPN_CODER = det_utils.BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
PATCH_CODER = det_utils.BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))


def label_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: str = "sum",
) -> torch.Tensor:
    """Multi-label binary cross-entropy (eq. 5).

    Args:
        logits: (B, C) label logits (already scaled by sigma).
        targets: (B, C) 0/1 labels.
        mask: (B, C) bool, True where the label is known; None = all known.
        reduction: ``sum`` over classes (the paper's eq. 5) or ``mean`` over known classes.

    Returns:
        Scalar loss averaged over images.
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ")
    per = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    weight = torch.ones_like(per) if mask is None else mask.to(per.dtype)
    per_image = (per * weight).sum(1)  # (B,)
    if reduction == "mean":
        per_image = per_image / weight.sum(1).clamp(min=1)
    return per_image.mean() if len(per_image) else logits.sum() * 0


def patch_label_targets(
    patches: list[torch.Tensor],
    gt_boxes: list[torch.Tensor],
    gt_labels: list[torch.Tensor],
    num_classes: int,
    *,
    fg_iou: float,
) -> torch.Tensor:
    """Label targets of each patch, for a patch-level L_l: the one-hot label of the ground-truth
    box it overlaps most when that IoU reaches ``fg_iou``, all zeros (background) otherwise.

    Args:
        patches: B tensors (P_i, 4), the patches the label predictors saw.
        gt_boxes: B tensors (G_i, 4) ground-truth boxes.
        gt_labels: B tensors (G_i,) their class indices.
        num_classes: C.
        fg_iou: IoU with a ground-truth box from which a patch takes its label.

    Returns:
        (N, C) 0/1 targets, N = sum_i P_i, in the order of ``patches``.
    """
    matcher = det_utils.Matcher(fg_iou, fg_iou, allow_low_quality_matches=False)
    out = []
    for p, g, labels in zip(patches, gt_boxes, gt_labels, strict=True):
        target = p.new_zeros(len(p), num_classes)
        if len(g) and len(p):
            matched = matcher(box_iou(g.to(p.dtype), p))  # (P,), -1 below the threshold
            hit = torch.where(matched >= 0)[0]
            target[hit, labels[matched[hit]].long()] = 1.0
        out.append(target)
    return torch.cat(out) if out else torch.zeros(0, num_classes)


def patch_losses(
    patches: list[torch.Tensor],
    box_deltas: torch.Tensor,
    patch_logits: torch.Tensor,
    gt_boxes: list[torch.Tensor],
    *,
    fg_iou: float,
    batch_size: int,
    positive_fraction: float,
    box_normalisation: str = "positives",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Box regression Lr (eq. 2-3) and patch classification Lp (eq. 4).

    Args:
        patches: B tensors (P_i, 4), the object patches the heads saw.
        box_deltas: (N, 4) regressor outputs, patches of all images concatenated.
        patch_logits: (N,) patch classifier logits.
        gt_boxes: B tensors (G_i, 4) ground-truth boxes.
        fg_iou: IoU with a ground-truth box from which a patch counts as an object.
        batch_size: patches sampled per image for both losses.
        positive_fraction: at most this share of the sample is positive.
        box_normalisation: Lr's sum divided by the sampled ``positives`` (eq. 2 read as a mean
            over the patches it is computed on) or by the whole ``sampled`` set (torchvision's
            Faster R-CNN, whose box term is smaller when positives are few).

    Returns:
        (Lr, Lp averaged over sampled patches).
    """
    if box_normalisation not in ("positives", "sampled"):
        raise ValueError(
            f"box_normalisation must be 'positives' or 'sampled', got {box_normalisation!r}"
        )
    matcher = det_utils.Matcher(fg_iou, fg_iou, allow_low_quality_matches=False)
    sampler = det_utils.BalancedPositiveNegativeSampler(batch_size, positive_fraction)
    labels, targets = [], []
    for p, g in zip(patches, gt_boxes, strict=True):
        if len(g) == 0:
            labels.append(torch.zeros(len(p), dtype=torch.int64, device=p.device))
            targets.append(torch.zeros_like(p))
            continue
        matched = matcher(box_iou(g.to(p.dtype), p))  # (P,), -1 below threshold
        labels.append((matched >= 0).to(torch.int64))
        targets.append(PATCH_CODER.encode_single(g[matched.clamp(min=0)].to(p.dtype), p))
    pos, neg = sampler(labels)
    pos = torch.where(torch.cat(pos))[0]
    sampled = torch.cat([pos, torch.where(torch.cat(neg))[0]])
    labels_all = torch.cat(labels).to(patch_logits.dtype)
    lp = (
        F.binary_cross_entropy_with_logits(patch_logits[sampled], labels_all[sampled])
        if len(sampled)
        else patch_logits.sum() * 0
    )
    # eq. 3 with beta = 1: 0.5 x^2 if |x| < 1 else |x| - 0.5, summed over x, y, w, h (eq. 2)
    lr = F.smooth_l1_loss(box_deltas[pos], torch.cat(targets)[pos], beta=1.0, reduction="sum")
    count = len(pos) if box_normalisation == "positives" else len(sampled)
    return lr / max(count, 1), lp


def rpn_loss(
    objectness: torch.Tensor,
    deltas: torch.Tensor,
    anchors: list[torch.Tensor],
    gt_boxes: list[torch.Tensor],
    *,
    fg_iou: float,
    bg_iou: float,
    batch_size: int,
    positive_fraction: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The region proposal network's losses, as Faster R-CNN (torchvision's ``compute_loss``).

    Args:
        objectness: (sum_i A_i,) anchor objectness logits.
        deltas: (sum_i A_i, 4) anchor box deltas.
        anchors: B tensors (A_i, 4).
        gt_boxes: B tensors (G_i, 4).
        fg_iou: anchors at or above this IoU with a ground-truth box are positive.
        bg_iou: anchors below it are negative (between: ignored).
        batch_size: anchors sampled per image.
        positive_fraction: at most this share of the sample is positive.

    Returns:
        (objectness BCE, box smooth-L1 with beta 1/9 normalised by the sample size).
    """
    matcher = det_utils.Matcher(fg_iou, bg_iou, allow_low_quality_matches=True)
    sampler = det_utils.BalancedPositiveNegativeSampler(batch_size, positive_fraction)
    labels, targets = [], []
    for a, g in zip(anchors, gt_boxes, strict=True):
        if len(g) == 0:
            labels.append(torch.zeros(len(a), device=a.device))
            targets.append(torch.zeros_like(a))
            continue
        matched = matcher(box_iou(g.to(a.dtype), a))
        lab = (matched >= 0).to(a.dtype)
        lab[matched == det_utils.Matcher.BETWEEN_THRESHOLDS] = -1.0
        labels.append(lab)
        targets.append(RPN_CODER.encode_single(g[matched.clamp(min=0)].to(a.dtype), a))
    pos, neg = sampler(labels)
    pos = torch.where(torch.cat(pos))[0]
    sampled = torch.cat([pos, torch.where(torch.cat(neg))[0]])
    labels_all = torch.cat(labels)
    obj = F.binary_cross_entropy_with_logits(objectness[sampled], labels_all[sampled])
    box = F.smooth_l1_loss(deltas[pos], torch.cat(targets)[pos], beta=1 / 9, reduction="sum")
    return obj, box / max(len(sampled), 1)


def with_total(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``terms`` with their sum under ``"total"`` (every term already weighted)."""
    terms["total"] = cast(torch.Tensor, sum(terms.values()))
    return terms
