"""The one place where configs become modules (STYLE: explicit arguments, one translation point).

:func:`build_model` dispatches on ``model.name`` through :data:`MODELS`; every builder takes the
model's config section, the number of classes and the pretrained state-dict files already
resolved, by part: ``{"backbone": path, "detector": path}`` (see ``scac.engine.run``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from scac.config import SCACConfig
from scac.models.backbones import BACKBONES
from scac.models.heads import ContextLabelPredictor, LabelScale, ObjectPatchProcessors
from scac.models.neck import FPNNeck
from scac.models.patches import CONTEXT_PATCHES, ObjectPatchGenerator
from scac.models.pooling import AGGREGATIONS, FUSIONS
from scac.models.roi_align import PyramidRoIAlign
from scac.models.scac import SCAC
from scac.models.weights import load_backbone_weights
from scac.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

_BRANCHES = ("object", "context")


def build_backbone(name: str, weights_path: Path | None = None) -> nn.Module:
    """A registered backbone (frozen batch norm), with weights loaded from ``weights_path``."""
    backbone = BACKBONES.get(name)()
    if weights_path is not None:
        load_backbone_weights(backbone, weights_path)
    return backbone


def load_parts(model: nn.Module, path: Path, parts: tuple[str, ...]) -> None:
    """Load a state dict that holds exactly the named top-level ``parts`` of ``model``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = {k for k in model.state_dict() if k.split(".")[0] in parts}
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise ValueError(
            f"state dict {path} does not hold the model's {'/'.join(parts)}: "
            f"missing keys: {', '.join(missing[:8]) or 'none'}; "
            f"unexpected keys: {', '.join(unexpected[:8]) or 'none'}"
        )
    model.load_state_dict(state, strict=False)


@MODELS.register("scac")
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
    pretrained = pretrained or {}
    branches = set(cfg.branches)
    if not branches or branches - set(_BRANCHES):
        raise ValueError(
            f"model.branches must be a non-empty subset of {list(_BRANCHES)}, "
            f"got {list(cfg.branches)}"
        )
    backbone = build_backbone(cfg.backbone, pretrained.get("backbone"))
    neck = FPNNeck(backbone.features, cfg.fpn_channels)
    levels = [f.name for f in neck.features]
    if len(cfg.anchor_sizes) != len(levels):
        raise ValueError(
            f"model.anchor_sizes needs one size per pyramid level ({len(levels)}: {levels}), "
            f"got {list(cfg.anchor_sizes)}"
        )
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in cfg.anchor_sizes),
        aspect_ratios=(tuple(cfg.aspect_ratios),) * len(levels),
    )
    rpn = RegionProposalNetwork(
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
    roi_pool = PyramidRoIAlign(
        neck.features, cfg.roi_size, sampling_ratio=2, canonical_scale=cfg.roi_canonical_scale
    )
    with_context = "context" in branches
    model = SCAC(
        backbone=backbone,
        neck=neck,
        object_patches=ObjectPatchGenerator(rpn),
        context_patches=CONTEXT_PATCHES.get("expand")(cfg.context_ratio) if with_context else None,
        roi_pool=roi_pool,
        object_head=ObjectPatchProcessors(
            cfg.fpn_channels,
            cfg.roi_size,
            cfg.representation_size,
            num_classes,
            with_labels="object" in branches,
        ),
        context_head=ContextLabelPredictor(
            cfg.fpn_channels, cfg.roi_size, cfg.representation_size, num_classes
        )
        if with_context
        else None,
        label_scale=LabelScale(cfg.sigma, cfg.learn_sigma),
        aggregation=AGGREGATIONS.get(cfg.aggregation),
        fusion=FUSIONS.get(cfg.fusion),
    )
    if pretrained.get("detector") is not None:
        load_parts(model, pretrained["detector"], ("neck", "object_patches"))
    return model


def build_model(cfg, num_classes: int, pretrained: dict[str, Path] | None = None) -> nn.Module:
    """Any registered model from its ``model`` config section and pretrained files by part."""
    return MODELS.get(cfg.name)(cfg, num_classes, pretrained)
