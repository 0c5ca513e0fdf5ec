"""SCAC's total loss (eq. 6) from a forward pass and a batch.

L = Lr + alpha Lp + beta Ll(obj) + gamma Ll(ctx) + rpn_weight (L_rpn_obj + L_rpn_box).

The paper does not say how the region proposal network is trained; we keep Faster R-CNN's
own objectness and box terms, weighted by ``rpn_weight`` (1.0 by default, as Faster R-CNN).
A removed branch contributes no term.
"""

from __future__ import annotations

import torch

from scac.config import SCACLossConfig
from scac.data.batch import Batch
from scac.losses.terms import label_loss, patch_losses, rpn_loss
from scac.models.scac import SCACOutput


def scac_loss(
    output: SCACOutput, batch: Batch, settings: SCACLossConfig
) -> dict[str, torch.Tensor]:
    """Every term of eq. 6, weighted, and their sum under ``"total"``.

    Args:
        output: the model's forward pass on ``batch`` (training mode).
        batch: images, boxes and labels (``label_mask`` drops unknown labels from Ll).
        settings: weights and sampling of the terms.
    """
    p = output.proposals
    rpn_obj, rpn_box = rpn_loss(
        p.objectness,
        p.deltas,
        p.anchors,
        batch.boxes,
        fg_iou=settings.rpn_fg_iou,
        bg_iou=settings.rpn_bg_iou,
        batch_size=settings.rpn_batch_size,
        positive_fraction=settings.rpn_positive_fraction,
    )
    lr, lp = patch_losses(
        output.patches,
        output.box_deltas,
        output.patch_logits,
        batch.boxes,
        fg_iou=settings.patch_fg_iou,
        batch_size=settings.patch_batch_size,
        positive_fraction=settings.patch_positive_fraction,
    )
    # every term already weighted: the total is their sum, and a phase may optimise a subset
    terms = {
        "rpn_objectness": settings.rpn_weight * rpn_obj,
        "rpn_box": settings.rpn_weight * rpn_box,
        "Lr": lr,
        "Lp": settings.alpha * lp,
    }
    mask, reduction = batch.label_mask, settings.label_reduction
    if output.image_object_logits is not None:
        ll = label_loss(output.image_object_logits, batch.labels, mask, reduction)
        terms["Ll_obj"] = settings.beta * ll
    if output.image_context_logits is not None:
        ll = label_loss(output.image_context_logits, batch.labels, mask, reduction)
        terms["Ll_ctx"] = settings.gamma * ll
    terms["total"] = sum(terms.values())
    return terms
