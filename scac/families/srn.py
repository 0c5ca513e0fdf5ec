"""SRN, the spatial regularization network (Zhu et al., CVPR 2017, §3), as a model family.

Its main net is a ResNet (f_cnn + f_cls); f_att estimates attention maps from the stride-16
feature X, f_sr learns spatial regularisations from them, and the final confidence is
y = alpha y_cls + (1 - alpha) y_sr (§3.4). Its four cross-entropy terms (eq. 10) are ``cls`` =
F(y, y_cls), ``att`` = F(y, y_att), ``sr`` = F(y, y_sr) and ``final`` = F(y, y); "total" sums
them, and the paper's four training steps pick them per phase (``train.phases.N.loss_terms``,
studies/recipes/srn-synth.toml).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scac.config_fields import Backbone, NonNegative, Positive, Probability, Reduction
from scac.families.base import LossConfig, ModelConfig, ModelFamily, check_input_size, register
from scac.sections import DataConfig

if TYPE_CHECKING:  # the model code loads when a model is built or trained, not with the configs
    import torch

    from scac.data.batch import Batch
    from scac.models.srn import SRN, SRNOutput


@dataclass(frozen=True)
class SRNConfig(ModelConfig):
    """The spatial regularization network (SRN §3) on a ResNet main net.

    ``weighted_attention = False`` is "ResNet-SRN-att" (§4.1): f_sr learns from the attention
    maps A instead of U = sigmoid(S) * A.
    """

    name: str = "srn"
    backbone: Backbone = "resnet101"
    weights: str = "none"
    input_size: Positive = 224  # images' side: f_sr's conv4 kernel covers the whole stride-16 map
    attention_width: Positive = 512  # f_att: 1x1/512, 3x3/512, 1x1/C (§3.2)
    regulariser_width: Positive = 512  # f_sr conv2 and conv3 (1x1), the channels conv4 groups over
    kernels_per_channel: Positive = 4  # f_sr conv4: 4 kernels per channel, 4 x 512 = 2048 (§3.3)
    weighted_attention: bool = True
    alpha: Probability = 0.5  # y = alpha y_cls + (1 - alpha) y_sr (§3.4)


@dataclass(frozen=True)
class SRNLossConfig(LossConfig):
    """Weights of SRN's four cross-entropy terms (§3.4); recipe phases pick the terms per step.

    ``cls`` = F(y, y_cls), ``att`` = F(y, y_att), ``sr`` = F(y, y_sr), ``final`` = F(y, y).
    """

    cls_weight: NonNegative = 1.0
    att_weight: NonNegative = 1.0
    sr_weight: NonNegative = 1.0
    final_weight: NonNegative = 1.0
    label_reduction: Reduction = "sum"


def build_srn(cfg: SRNConfig, num_classes: int, pretrained: dict[str, Path] | None = None) -> SRN:
    """SRN (or ResNet-SRN-att) from its config section.

    Args:
        cfg: the ``model`` section.
        num_classes: number of labels C.
        pretrained: state-dict files by part (``backbone``).
    """
    from torch import nn

    from scac.models.srn import (
        SRN,
        AttentionEstimator,
        SpatialRegulariser,
        stride16_feature,
        unweighted_attention,
        weighted_attention,
    )
    from scac.models.weights import build_backbone

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


@register
class SRNFamily(ModelFamily):
    """SRN and its unweighted-attention variant."""

    name = "srn"
    config = SRNConfig
    loss_config = SRNLossConfig
    small = {"model.input_size": 64}
    tiny = {
        "model.backbone": "tiny",
        "model.input_size": 64,
        "model.attention_width": 16,
        "model.regulariser_width": 8,
    }

    def build(self, cfg, num_classes, pretrained=None):
        return build_srn(cfg, num_classes, pretrained)

    def objective(
        self, output: SRNOutput, batch: Batch, settings: SRNLossConfig
    ) -> dict[str, torch.Tensor]:
        from scac.losses.terms import label_loss, with_total

        y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
        return with_total(
            {
                "cls": settings.cls_weight * label_loss(output.cls_logits, y, mask, reduction),
                "att": settings.att_weight * label_loss(output.att_logits, y, mask, reduction),
                "sr": settings.sr_weight * label_loss(output.sr_logits, y, mask, reduction),
                "final": settings.final_weight * label_loss(output.logits, y, mask, reduction),
            }
        )

    def check(self, model: SRNConfig, data: DataConfig) -> None:
        check_input_size(model, data)
