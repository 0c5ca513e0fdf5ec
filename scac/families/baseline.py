"""The ResNet baselines of SRN (Zhu et al., CVPR 2017, §4.1), as two model families.

* ``resnet_baseline``: binary relevance, global average pooling of C5 and one linear classifier
  (BCE term ``cls``); with ``extra_blocks = 2`` it is SRN's "ResNet-107", two more residual
  blocks of the C5 width to match SRN's added parameters.
* ``resnet_semantic``: SRN's "ResNet-101-semantic": the initial confidences concatenated with the
  pool5 features, then two ``hidden``-neuron and one C-neuron fully-connected layers. Terms
  ``cls`` (initial confidences) and ``semantic`` (final ones); the paper does not say how it is
  trained, and supervising both keeps the "initial confidences" what their name says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scac.config_fields import Backbone, NonNegative, NonNegativeInt, Positive, Reduction
from scac.families.base import LossConfig, ModelConfig, ModelFamily, register

if TYPE_CHECKING:  # the model code loads when a model is built or trained, not with the configs
    import torch

    from scac.data.batch import Batch
    from scac.models.baseline import (
        ClassifierOutput,
        ResNetBaseline,
        ResNetSemantic,
        SemanticOutput,
    )


@dataclass(frozen=True)
class ResNetBaselineConfig(ModelConfig):
    """Binary relevance on a ResNet; ``extra_blocks = 2`` is SRN's "ResNet-107"."""

    name: str = "resnet_baseline"
    backbone: Backbone = "resnet101"
    weights: str = "none"  # backbone: none | imagenet | imagenet-v2 | synthetic | path
    extra_blocks: NonNegativeInt = 0


@dataclass(frozen=True)
class ResNetBaselineLossConfig(LossConfig):
    """One binary cross-entropy term on the classifier's logits (term ``cls``)."""

    label_reduction: Reduction = "sum"  # sum over classes (SRN eq. 10) or "mean" over known ones


@dataclass(frozen=True)
class ResNetSemanticConfig(ModelConfig):
    """SRN's "ResNet-101-semantic" baseline (§4.1)."""

    name: str = "resnet_semantic"
    backbone: Backbone = "resnet101"
    weights: str = "none"
    hidden: Positive = 2048  # the paper's "two 2048-neuron" layers


@dataclass(frozen=True)
class ResNetSemanticLossConfig(LossConfig):
    """Terms ``cls`` (initial confidences) and ``semantic`` (final confidences), each weighted."""

    cls_weight: NonNegative = 1.0
    semantic_weight: NonNegative = 1.0
    label_reduction: Reduction = "sum"


def build_resnet_baseline(
    cfg: ResNetBaselineConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> ResNetBaseline:
    """The binary-relevance baseline (or SRN's ResNet-107) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    from torch import nn

    from scac.models.baseline import ResNetBaseline, extra_residual_blocks
    from scac.models.weights import build_backbone

    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    channels = backbone.features[-1].channels
    return ResNetBaseline(
        backbone=backbone,
        classifier=nn.Linear(channels, num_classes),
        extra_blocks=extra_residual_blocks(channels, cfg.extra_blocks)
        if cfg.extra_blocks
        else None,
    )


def build_resnet_semantic(
    cfg: ResNetSemanticConfig, num_classes: int, pretrained: dict[str, Path] | None = None
) -> ResNetSemantic:
    """SRN's ResNet-101-semantic (arguments as :func:`build_resnet_baseline`)."""
    from torch import nn

    from scac.models.baseline import ResNetSemantic, SemanticLayers
    from scac.models.weights import build_backbone

    backbone = build_backbone(cfg.backbone, (pretrained or {}).get("backbone"))
    channels = backbone.features[-1].channels
    return ResNetSemantic(
        backbone=backbone,
        classifier=nn.Linear(channels, num_classes),
        semantic=SemanticLayers(channels, num_classes, cfg.hidden),
    )


@register
class ResNetBaselineFamily(ModelFamily):
    """The ResNet baseline of SRN §4.1: binary relevance, one BCE term ``cls``."""

    name = "resnet_baseline"
    config = ResNetBaselineConfig
    loss_config = ResNetBaselineLossConfig
    tiny = {"model.backbone": "tiny"}

    def build(self, cfg, num_classes, pretrained=None):
        return build_resnet_baseline(cfg, num_classes, pretrained)

    def objective(
        self, output: ClassifierOutput, batch: Batch, settings: ResNetBaselineLossConfig
    ) -> dict[str, torch.Tensor]:
        from scac.losses.terms import label_loss, with_total

        cls = label_loss(output.logits, batch.labels, batch.label_mask, settings.label_reduction)
        return with_total({"cls": cls})


@register
class ResNetSemanticFamily(ModelFamily):
    """SRN's ResNet-101-semantic: ``cls`` on the initial, ``semantic`` on the final confidences."""

    name = "resnet_semantic"
    config = ResNetSemanticConfig
    loss_config = ResNetSemanticLossConfig
    tiny = {"model.backbone": "tiny", "model.hidden": 16}
    small = {"model.backbone": "shallow", "model.hidden": 16}

    def build(self, cfg, num_classes, pretrained=None):
        return build_resnet_semantic(cfg, num_classes, pretrained)

    def objective(
        self, output: SemanticOutput, batch: Batch, settings: ResNetSemanticLossConfig
    ) -> dict[str, torch.Tensor]:
        from scac.losses.terms import label_loss, with_total

        y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
        return with_total(
            {
                "cls": settings.cls_weight * label_loss(output.cls_logits, y, mask, reduction),
                "semantic": settings.semantic_weight
                * label_loss(output.logits, y, mask, reduction),
            }
        )
