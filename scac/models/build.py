"""The one place where configs become modules (STYLE: explicit arguments, one translation point).

:func:`build_model` dispatches on ``model.name`` through :data:`MODELS`; every builder takes the
model's config section, the number of classes and the pretrained state-dict files already
resolved, by part: ``{"backbone": path, "detector": path}`` (see ``scac.engine.run``). Builders
check the settings a model cannot work with and raise ``ValueError`` naming the config key.

Registered: ``scac`` (the paper's model) and its peers (docs/models.md): ``resnet_baseline``
(binary relevance; ResNet-107 with ``extra_blocks = 2``), ``resnet_semantic``, ``srn`` and
``latent_context``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from scac.config import SCACConfig
from scac.model_configs import (
    LatentContextConfig,
    ResNetBaselineConfig,
    ResNetSemanticConfig,
    SRNConfig,
)
from scac.models.backbones import BACKBONES
from scac.models.baseline import (
    ResNetBaseline,
    ResNetSemantic,
    SemanticLayers,
    extra_residual_blocks,
)
from scac.models.heads import ContextLabelPredictor, LabelScale, ObjectPatchProcessors
from scac.models.label_transformer import transformer_encoder
from scac.models.latent_context import (
    ClassAwareMaps,
    ContextEmbedding,
    FullCorrelation,
    LatentContext,
    MaskedInference,
    MultiLevelFusion,
    mlff_levels,
)
from scac.models.neck import FPNNeck
from scac.models.patches import CONTEXT_PATCHES, ObjectPatchGenerator
from scac.models.pooling import AGGREGATIONS, FUSIONS
from scac.models.roi_align import PyramidRoIAlign
from scac.models.scac import SCAC
from scac.models.srn import (
    SRN,
    AttentionEstimator,
    SpatialRegulariser,
    stride16_feature,
    unweighted_attention,
    weighted_attention,
)
from scac.models.weights import load_backbone_weights, load_state_dict_file
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
    state = load_state_dict_file(path)
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


def _at_least_one(cfg, *keys: str) -> None:
    for key in keys:
        if getattr(cfg, key) < 1:
            raise ValueError(f"model.{key} must be >= 1, got {getattr(cfg, key)}")


@MODELS.register("resnet_baseline")
def build_resnet_baseline(
    cfg: ResNetBaselineConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> ResNetBaseline:
    """The binary-relevance baseline (or SRN's ResNet-107) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    if cfg.extra_blocks < 0:
        raise ValueError(f"model.extra_blocks must be >= 0, got {cfg.extra_blocks}")
    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    channels = backbone.features[-1].channels
    return ResNetBaseline(
        backbone=backbone,
        classifier=nn.Linear(channels, num_classes),
        extra_blocks=extra_residual_blocks(channels, cfg.extra_blocks)
        if cfg.extra_blocks
        else None,
    )


@MODELS.register("resnet_semantic")
def build_resnet_semantic(
    cfg: ResNetSemanticConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> ResNetSemantic:
    """SRN's ResNet-101-semantic (arguments as :func:`build_resnet_baseline`)."""
    _at_least_one(cfg, "hidden")
    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    channels = backbone.features[-1].channels
    return ResNetSemantic(
        backbone=backbone,
        classifier=nn.Linear(channels, num_classes),
        semantic=SemanticLayers(channels, num_classes, cfg.hidden),
    )


@MODELS.register("srn")
def build_srn(cfg: SRNConfig, num_classes: int, pretrained: dict[str, Path] | None = None) -> SRN:
    """SRN (or ResNet-SRN-att) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    _at_least_one(cfg, "input_size", "attention_width", "regulariser_width", "kernels_per_channel")
    if not 0.0 <= cfg.alpha <= 1.0:
        raise ValueError(f"model.alpha must be in [0, 1], got {cfg.alpha}")
    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    x = stride16_feature(backbone.features, cfg.backbone)
    # stride-2 convolutions with "same" padding round up: 224 -> 14, 128 -> 8
    map_size = math.ceil(cfg.input_size / x.stride)
    return SRN(
        backbone=backbone,
        classifier=nn.Linear(backbone.features[-1].channels, num_classes),
        attention=AttentionEstimator(x.channels, cfg.attention_width, num_classes),
        regulariser=SpatialRegulariser(
            num_classes, cfg.regulariser_width, cfg.kernels_per_channel, map_size
        ),
        regulariser_input=weighted_attention if cfg.weighted_attention else unweighted_attention,
        attention_level=x.name,
        alpha=cfg.alpha,
    )


def _check_latent_context(cfg: LatentContextConfig) -> None:
    if not 0.0 <= cfg.mask_ratio < 1.0:
        raise ValueError(f"model.mask_ratio must be in [0, 1), got {cfg.mask_ratio}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.dropout must be in [0, 1), got {cfg.dropout}")
    _at_least_one(cfg, "input_size", "heads", "decoder_layers", "encoder_layers", "ffn_dim")
    if cfg.full and not (cfg.lcie or cfg.spatial):
        raise ValueError(
            "model.full models correlations of label tokens: it needs model.lcie or model.spatial"
        )
    if cfg.partial and not cfg.full:
        raise ValueError("model.partial is the masked form of model.full (§3.4): it needs it")


@MODELS.register("latent_context")
def build_latent_context(
    cfg: LatentContextConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> LatentContext:
    """The latent-context model (any row of its Table 3) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    _check_latent_context(cfg)
    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    levels = mlff_levels(backbone.features, cfg.mlff, cfg.backbone)
    d = sum(f.channels for f in levels)  # 3584 for ResNet-101 with MLFF
    side = math.ceil(cfg.input_size / levels[-1].stride)  # 14 at 448 px
    token_dim = d * cfg.lcie + side * side * cfg.spatial  # D + HW (eq. 6)
    for key, dim in (("lcie", d * cfg.lcie), ("full", token_dim * cfg.full)):
        if dim and dim % cfg.heads:
            raise ValueError(
                f"model.heads = {cfg.heads} must divide the {dim} features per token of "
                f"model.{key} (model.backbone {cfg.backbone!r}, model.input_size {cfg.input_size})"
            )

    def encoder() -> nn.TransformerEncoder:
        return transformer_encoder(
            token_dim, cfg.heads, cfg.ffn_dim, cfg.dropout, cfg.encoder_layers
        )

    full = FullCorrelation(encoder(), num_classes, token_dim) if cfg.full else None
    partial = None
    if cfg.partial:  # the paper shares the encoder with Full; Table 3 "o" gives it its own
        own = None if cfg.share_encoder else encoder()
        partial = MaskedInference(num_classes, token_dim, cfg.mask_ratio, own)
    lcie = None
    if cfg.lcie:
        lcie = ContextEmbedding(
            num_classes, d, cfg.heads, cfg.ffn_dim, cfg.dropout, cfg.decoder_layers
        )
    return LatentContext(
        backbone=backbone,
        fusion=MultiLevelFusion([f.name for f in levels]),
        # no label tokens (Table 3 rows 1-2): one linear classifier on pooled X^ml
        classifier=nn.Linear(d, num_classes) if not (cfg.lcie or cfg.spatial) else None,
        lcie=lcie,
        spatial=ClassAwareMaps(d, num_classes) if cfg.spatial else None,
        full=full,
        partial=partial,
    )


def build_model(cfg, num_classes: int, pretrained: dict[str, Path] | None = None) -> nn.Module:
    """Any registered model from its ``model`` config section and pretrained files by part."""
    return MODELS.get(cfg.name)(cfg, num_classes, pretrained)
