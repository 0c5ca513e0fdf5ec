"""SCAC, the spatial-context-aware network (Zhang et al., ICASSP 2022, §2), as a model family.

Its ``model`` section (defaults: the paper's full-size model), its ``loss`` section (eq. 6),
the builder that assembles Fig. 2 from torchvision's detection parts and ours, the objective
L = Lr + alpha Lp + beta Ll(obj) + gamma Ll(ctx) + rpn_weight (L_rpn_obj + L_rpn_box), and the
pretrained parts it loads: a backbone, and an FPN + region proposal network ("detector").

The paper does not say how the region proposal network is trained; we keep Faster R-CNN's own
objectness and box terms, weighted by ``rpn_weight`` (1.0 by default, as Faster R-CNN). A
removed branch contributes no term.

The configs are read without torch (planning a study, computing run keys, printing a table load
none of it): the builder and the objective import the model code when they run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

from scac.config_fields import (
    Backbone,
    NonNegative,
    Positive,
    PositiveFloat,
    Probability,
    Range,
    Reduction,
    Registered,
    Unkeyed,
)
from scac.families.base import (
    DETECTOR_PARTS,
    LossConfig,
    ModelConfig,
    ModelFamily,
    PretrainedPart,
    register,
)
from scac.models import names
from scac.sections import DataConfig

if TYPE_CHECKING:
    import torch
    from torchvision.models.detection.rpn import RegionProposalNetwork

    from scac.data.batch import Batch
    from scac.models.heads import ContextLabelPredictor, ObjectPatchProcessors
    from scac.models.scac import SCAC, SCACOutput


@dataclass(frozen=True)
class SCACConfig(ModelConfig):
    """The spatial-context-aware network (paper §2). Defaults are the paper's full-size model."""

    name: str = "scac"
    backbone: Backbone = "resnext101_32x8d"
    weights: str = "none"  # backbone: none | imagenet | imagenet-v2 | synthetic | path
    detector_weights: str = "none"  # FPN + RPN: none | synthetic | path to a state dict
    fpn_channels: Positive = 256
    anchor_sizes: tuple[Positive, ...] = (32, 64, 128, 256)  # one size per FPN level, P2..P5
    aspect_ratios: tuple[PositiveFloat, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n: Positive = 1000
    rpn_post_nms_top_n: Positive = 300  # object patches per image
    rpn_nms_thresh: Probability = 0.7
    roi_size: Positive = 7
    roi_canonical_scale: Positive = 224  # FPN eq. 1: a box of this side pools from P4
    representation_size: Positive = 1024
    # side of a context patch / side of its object patch: 1 = the object patch itself
    context_ratio: Annotated[float, Range(low=1.0)] = 2.0
    sigma: PositiveFloat = 0.5  # eq. 5's sigma, fixed at 0.5 (read as sigma_reading says)
    # eq. 5's "sigma ... a learnable weighting factor": a plain weight of L_l (the prediction
    # sigmoid(z)), a factor on the logits (sigmoid(sigma z)), on the probability (sigma
    # sigmoid(z)), or on the logits in the loss only (scac.models.heads.LabelScale). "weight"
    # since 2026-12-07: it beat "logit" by 6.7 mAP in the readings study (docs/readings.md)
    sigma_reading: Literal["logit", "probability", "loss", "weight"] = "weight"
    learn_sigma: bool = False  # kept positive, not weight-decayed
    # element-wise fusion of the two branches' scores
    fusion: Annotated[str, Registered("scac.models.pooling:FUSIONS", names.FUSIONS)] = "mean"
    # what is fused: each branch's image scores (pooled over patches first), or each patch's two
    # scores (fused first, then pooled over patches)
    fusion_stage: Annotated[Literal["image", "patch"], Unkeyed("image")] = "image"
    # patch scores -> image scores
    aggregation: Annotated[
        str, Registered("scac.models.pooling:AGGREGATIONS", names.AGGREGATIONS)
    ] = "max"
    # what a patch's label logits become before pooling: as they are, or gated by objectness
    patch_scores: Annotated[
        str, Registered("scac.models.pooling:PATCH_SCORES", names.PATCH_SCORES)
    ] = "labels"
    # the patches the label predictors see: the proposals, or the box regressor's refinement
    label_patches: Literal["proposals", "refined"] = "proposals"
    branches: tuple[Literal["object", "context"], ...] = ("object", "context")
    gt_patches_in_training: bool = True  # as Faster R-CNN: ground-truth boxes join the patches
    # how an object patch becomes its context patch: scaled about its centre and clipped, shifted
    # to stay inside the image, or scaled by area rather than side
    context_patches: Annotated[
        str,
        Registered("scac.models.patches:CONTEXT_PATCHES", names.CONTEXT_PATCHES),
        Unkeyed("expand"),
    ] = "expand"
    # the pyramid level a context patch pools from: the one its own size maps to, or its
    # object patch's
    context_level: Annotated[Literal["own", "object"], Unkeyed("own")] = "own"
    # the FPN's input: the backbone's C2..C5, or its last layer C5 alone (scac.models.neck)
    fpn_input: Annotated[Literal["pyramid", "c5"], Unkeyed("pyramid")] = "pyramid"
    # the box regressor, patch classifier and object label predictor on one MLP trunk, or on
    # one each ("four dense networks"; +1.3 [-0.4, +2.9] mAP in the readings study, for a fifth
    # more time per run: not adopted, docs/readings.md)
    head_trunks: Annotated[Literal["shared", "separate"], Unkeyed("shared")] = "shared"


@dataclass(frozen=True)
class SCACLossConfig(LossConfig):
    """Weights and sampling of eq. 6: L = Lr + alpha Lp + beta Ll(obj) + gamma Ll(ctx) + RPN."""

    alpha: NonNegative = 1.0
    beta: NonNegative = 1.0
    gamma: NonNegative = 1.0
    rpn_weight: NonNegative = 1.0  # the RPN's own objectness + box losses (Faster R-CNN: 1)
    patch_fg_iou: Probability = 0.5  # p* = 1 when a patch's max IoU with a ground truth exceeds it
    patch_batch_size: Positive = 128  # patches sampled per image for Lp and Lr
    patch_positive_fraction: Probability = 0.25
    rpn_fg_iou: Probability = 0.7
    rpn_bg_iou: Probability = 0.3
    rpn_batch_size: Positive = 256
    rpn_positive_fraction: Probability = 0.5
    label_reduction: Reduction = "sum"  # eq. 5 sums over classes; "mean" divides by C
    # Lr divided by the sampled positive patches, or by every sampled patch (torchvision)
    box_normalisation: Literal["positives", "sampled"] = "positives"
    # L_l on each image's pooled scores (eq. 5), or on each patch against the labels of the
    # ground-truth box it matches (IoU >= patch_fg_iou; none: background)
    label_targets: Annotated[Literal["image", "patch"], Unkeyed("image")] = "image"


def build_scac(
    cfg: SCACConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> SCAC:
    """SCAC from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part: ``backbone`` (see ``scac.models.weights``) and
            ``detector`` (FPN + region proposal network).
    """
    from scac.models.heads import ImageScoring, LabelScale
    from scac.models.neck import C5Pyramid, FPNNeck
    from scac.models.patches import CONTEXT_PATCHES, ObjectPatchGenerator, RefinePatches
    from scac.models.pooling import AGGREGATIONS, FUSIONS, PATCH_SCORES
    from scac.models.roi_align import PyramidRoIAlign
    from scac.models.scac import SCAC
    from scac.models.weights import build_backbone, load_parts

    pretrained = pretrained or {}
    branches: set[str] = set(cfg.branches)
    if not branches:
        raise ValueError("model.branches must be a non-empty subset of ['object', 'context']")
    backbone = build_backbone(cfg.backbone, pretrained.get("backbone"))
    # eq. 1's f_F on C2..C5, or on "the last convolutional layer" alone (the same four levels)
    pyramid = C5Pyramid if cfg.fpn_input == "c5" else FPNNeck
    neck = pyramid(backbone.features, cfg.fpn_channels)
    rpn = _proposals(cfg, [f.name for f in neck.features])
    roi_pool = PyramidRoIAlign(
        neck.features, cfg.roi_size, sampling_ratio=2, canonical_scale=cfg.roi_canonical_scale
    )
    with_context = "context" in branches
    context_patches = (
        CONTEXT_PATCHES.get(cfg.context_patches)(cfg.context_ratio) if with_context else None
    )
    object_head, context_head = _patch_processors(cfg, num_classes, branches)
    model = SCAC(
        backbone=backbone,
        neck=neck,
        object_patches=ObjectPatchGenerator(rpn),
        context_patches=context_patches,
        roi_pool=roi_pool,
        object_head=object_head,
        context_head=context_head,
        scoring=ImageScoring(
            LabelScale(cfg.sigma, cfg.learn_sigma, cfg.sigma_reading),
            PATCH_SCORES.get(cfg.patch_scores),
            AGGREGATIONS.get(cfg.aggregation),
            FUSIONS.get(cfg.fusion),
            cfg.fusion_stage,
        ),
        refine_patches=RefinePatches() if cfg.label_patches == "refined" else None,
        gt_patches_in_training=cfg.gt_patches_in_training,
        context_level=cfg.context_level,
    )
    if pretrained.get("detector") is not None:
        load_parts(model, pretrained["detector"], DETECTOR_PARTS)
    return model


def _proposals(cfg: SCACConfig, levels: list[str]) -> RegionProposalNetwork:
    """The object branch's region proposal network: one anchor size per pyramid level."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

    if len(cfg.anchor_sizes) != len(levels):
        raise ValueError(
            f"model.anchor_sizes needs one size per pyramid level ({len(levels)}: {levels}), "
            f"got {list(cfg.anchor_sizes)}"
        )
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in cfg.anchor_sizes),
        aspect_ratios=(tuple(cfg.aspect_ratios),) * len(levels),
    )
    return RegionProposalNetwork(
        anchors,
        RPNHead(cfg.fpn_channels, len(cfg.aspect_ratios)),
        # matching and sampling live in scac.losses.rpn_loss; these values are unused here
        fg_iou_thresh=0.7,
        bg_iou_thresh=0.3,
        batch_size_per_image=256,
        positive_fraction=0.5,
        pre_nms_top_n={"training": cfg.rpn_pre_nms_top_n, "testing": cfg.rpn_pre_nms_top_n},
        post_nms_top_n={"training": cfg.rpn_post_nms_top_n, "testing": cfg.rpn_post_nms_top_n},
        nms_thresh=cfg.rpn_nms_thresh,
    )


def _patch_processors(
    cfg: SCACConfig, num_classes: int, branches: set[str]
) -> tuple[ObjectPatchProcessors, ContextLabelPredictor | None]:
    """The object branch's three patch processors (box regressor, patch classifier, object
    label predictor, the last only with the object branch) and the context label predictor
    (with the context branch), made in that order (their random weights depend on it)."""
    from scac.models.heads import ContextLabelPredictor, ObjectPatchProcessors

    size = (cfg.fpn_channels, cfg.roi_size, cfg.representation_size, num_classes)
    object_head = ObjectPatchProcessors(
        *size, with_labels="object" in branches, separate_trunks=cfg.head_trunks == "separate"
    )
    context_head = ContextLabelPredictor(*size) if "context" in branches else None
    return object_head, context_head


def scac_objective(
    output: SCACOutput, batch: Batch, settings: SCACLossConfig
) -> dict[str, torch.Tensor]:
    """Every term of eq. 6, weighted, and their sum under ``"total"``.

    Args:
        output: the model's forward pass on ``batch`` (training mode).
        batch: images, boxes and labels (``label_mask`` drops unknown labels from Ll).
        settings: weights and sampling of the terms.
    """
    from scac.losses.terms import patch_losses, rpn_loss

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
        box_normalisation=settings.box_normalisation,
    )
    # every term already weighted: the total is their sum, and a phase may optimise a subset
    terms = {
        "rpn_objectness": settings.rpn_weight * rpn_obj,
        "rpn_box": settings.rpn_weight * rpn_box,
        "Lr": lr,
        "Lp": settings.alpha * lp,
    }
    for name, weight, image, patch in (
        ("Ll_obj", settings.beta, output.image_object_logits, output.object_patch_scores),
        ("Ll_ctx", settings.gamma, output.image_context_logits, output.context_patch_scores),
    ):
        if image is not None and patch is not None:
            ll = _label_term(output, batch, settings, image, patch)
            terms[name] = weight * output.label_loss_weight * ll
    terms["total"] = cast("torch.Tensor", sum(terms.values()))
    return terms


def _label_term(
    output: SCACOutput,
    batch: Batch,
    settings: SCACLossConfig,
    image: torch.Tensor,
    patch: torch.Tensor,
) -> torch.Tensor:
    """L_l of one branch (eq. 5), unweighted: on its (B, C) image logits, or on its (N, C) patch
    scores against the labels of the ground-truth boxes the label patches match."""
    from scac.losses.terms import label_loss, patch_label_targets

    mask, reduction = batch.label_mask, settings.label_reduction
    if settings.label_targets == "image":
        return label_loss(image, batch.labels, mask, reduction)
    targets = patch_label_targets(
        output.label_patches,
        batch.boxes,
        batch.box_labels,
        batch.labels.shape[1],
        fg_iou=settings.patch_fg_iou,
    )  # (N, C)
    patch_mask = None if mask is None else mask[output.patch_image]  # an image's unknown labels
    return label_loss(patch, targets, patch_mask, reduction)


def detector_shape(cfg: SCACConfig, image_size: int) -> dict:
    """The settings that shape the FPN and region proposal network's weights."""
    shape = {
        "backbone": cfg.backbone,
        "fpn_channels": cfg.fpn_channels,
        "anchor_sizes": list(cfg.anchor_sizes),
        "aspect_ratios": list(cfg.aspect_ratios),
        "image_size": image_size,
    }
    # Named only when set away from the code's earlier behaviour, so earlier weights keep their
    # name: the FPN's input shapes the weights; the head's trunks do not, but building them
    # draws from the random generator the pretraining's sampling then reads, so a model with
    # separate trunks pretrains to other weights (the head's sizes do too, and are not named
    # here: see docs/readings.md, "What the code does")
    if cfg.fpn_input != "pyramid":
        shape["fpn_input"] = cfg.fpn_input
    if cfg.head_trunks != "shared":
        shape["head_trunks"] = cfg.head_trunks
    return shape


@register
class SCACFamily(ModelFamily):
    """SCAC: a backbone and a detector (FPN + RPN) pretrained, two label branches fused."""

    name = "scac"
    config = SCACConfig
    loss_config = SCACLossConfig
    small = {
        "model.fpn_channels": 16,
        "model.representation_size": 32,
        "model.anchor_sizes": [8, 16, 32, 64],
        "model.roi_canonical_scale": 28,
        "model.rpn_post_nms_top_n": 8,
    }
    tiny = {
        "model.backbone": "tiny",
        "model.fpn_channels": 16,
        "model.anchor_sizes": [8, 16, 32, 64],
        "model.rpn_pre_nms_top_n": 50,
        "model.rpn_post_nms_top_n": 6,
        "model.roi_canonical_scale": 28,
        "model.representation_size": 32,
    }

    def build(self, cfg, num_classes, pretrained=None):
        return build_scac(cfg, num_classes, pretrained)

    def check(self, model: SCACConfig, data: DataConfig) -> None:
        if model.learn_sigma and model.sigma_reading == "weight":
            raise ValueError(
                "config key 'model.learn_sigma' cannot be true with 'model.sigma_reading' = "
                "'weight': a learnable loss weight would learn to vanish"
            )
        if model.sigma_reading == "probability" and model.sigma >= 1:
            raise ValueError(
                f"config key 'model.sigma' must be < 1 when 'model.sigma_reading' is "
                f"'probability' (sigma times a probability), got {model.sigma}"
            )

    def objective(self, output, batch, settings):
        return scac_objective(output, batch, settings)

    def pretrained_parts(self, model: SCACConfig, data: DataConfig):
        parts = super().pretrained_parts(model, data)
        if model.detector_weights == "none":
            return parts

        def detector_model(backbone_file: Path | None) -> SCAC:
            # the object branch alone: what a class-agnostic detector pretraining trains
            files = {"backbone": backbone_file} if backbone_file else {}
            return build_scac(replace(model, branches=("object",)), 1, files)

        detector = PretrainedPart(
            "detector",
            model.detector_weights,
            model.backbone,
            detector_shape(model, data.image_size),
            detector_model,
        )
        return (*parts, detector)
