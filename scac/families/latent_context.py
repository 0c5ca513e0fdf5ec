"""The latent-context transformer (Chen et al. 2023, §3), as a model family.

Multi-level feature fusion (§3.2), label-embedding cross-attention (LCIE, §3.3), class-aware
spatial features (eq. 4-5), a full transformer encoder over the label tokens (eq. 7-8) and its
partial-label form (eq. 9-10), each switchable, so the paper's Table 3 rows are the arms of a
study. Objective (eq. 13): ``cls`` = alpha L_cls on y (eq. 11-12) + ``infer`` = beta L_infer on
y_infer, the second only when the model has a partial branch and is training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scac.config_fields import Backbone, NonNegative, Positive, Reduction, Share
from scac.families.base import LossConfig, ModelConfig, ModelFamily, check_input_size, register
from scac.sections import DataConfig

if TYPE_CHECKING:  # the model code loads when a model is built or trained, not with the configs
    import torch
    from torch import nn

    from scac.data.batch import Batch
    from scac.models.latent_context import LatentContext, LatentContextOutput


@dataclass(frozen=True)
class LatentContextConfig(ModelConfig):
    """The latent-context transformer (Chen et al. 2023, §3), each module switchable (Table 3).

    ``mlff``: fuse conv3-5 (§3.2), else conv5 alone. ``lcie``: label queries with cross-attention
    (§3.3). ``spatial``: class-aware maps by a 1x1 conv (eq. 4-5). ``full``: transformer encoder
    over the label tokens (eq. 7-8). ``partial``: the same encoder on masked tokens with an
    inference token (eq. 9-10); ``share_encoder = False`` gives it its own encoder (Table 3 "o").
    With neither ``lcie`` nor ``spatial``, a pooled linear classifier predicts (Table 3 rows 1-2).
    """

    name: str = "latent_context"
    backbone: Backbone = "resnet101"
    weights: str = "none"
    input_size: Positive = 448  # images' side: spatial tokens hold one value per conv5 position
    mlff: bool = True
    lcie: bool = True
    spatial: bool = True
    full: bool = True
    partial: bool = True
    share_encoder: bool = True
    heads: Positive = 4
    decoder_layers: Positive = 3
    encoder_layers: Positive = 3
    ffn_dim: Positive = 2048  # not given by the paper: PyTorch's and DETR's default
    dropout: Share = 0.1
    mask_ratio: Share = 0.1  # share of label tokens hidden from the partial branch


@dataclass(frozen=True)
class LatentContextLossConfig(LossConfig):
    """eq. 13: L = alpha L_cls + beta L_infer (terms ``cls`` and ``infer``)."""

    alpha: NonNegative = 1.0
    beta: NonNegative = 0.1
    label_reduction: Reduction = "sum"  # eq. 12 sums over classes


def build_latent_context(
    cfg: LatentContextConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> LatentContext:
    """The latent-context model (any row of its Table 3) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    if cfg.full and not (cfg.lcie or cfg.spatial):
        raise ValueError(
            "model.full models correlations of label tokens: it needs model.lcie or model.spatial"
        )
    if cfg.partial and not cfg.full:
        raise ValueError("model.partial is the masked form of model.full (§3.4): it needs it")
    from torch import nn

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
    from scac.models.weights import build_backbone

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


@register
class LatentContextFamily(ModelFamily):
    """The latent-context transformer and its Table 3 ablations."""

    name = "latent_context"
    config = LatentContextConfig
    loss_config = LatentContextLossConfig
    tiny = {"model.backbone": "tiny", "model.input_size": 64, "model.ffn_dim": 32}
    small = {
        "model.input_size": 64,
        "model.decoder_layers": 1,
        "model.encoder_layers": 1,
        "model.ffn_dim": 64,
    }

    def build(self, cfg, num_classes, pretrained=None):
        return build_latent_context(cfg, num_classes, pretrained)

    def objective(
        self, output: LatentContextOutput, batch: Batch, settings: LatentContextLossConfig
    ) -> dict[str, torch.Tensor]:
        from scac.losses.terms import label_loss, with_total

        y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
        terms = {"cls": settings.alpha * label_loss(output.logits, y, mask, reduction)}
        if output.infer_logits is not None:
            terms["infer"] = settings.beta * label_loss(output.infer_logits, y, mask, reduction)
        return with_total(terms)

    def check(self, model: LatentContextConfig, data: DataConfig) -> None:
        check_input_size(model, data)
