"""The ``model`` and ``loss`` sections of a run config, one pair of dataclasses per model.

``model.name`` picks the entry of :data:`MODEL_CONFIGS`; the ``loss`` section's class is the
entry of :data:`LOSS_CONFIGS` under the same name. Each is a frozen dataclass of primitives,
with the paper's full-size settings as defaults; recipes and studies override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from scac.config_fields import (
    NonNegative,
    NonNegativeInt,
    Positive,
    PositiveFloat,
    Probability,
    Range,
    Registered,
    Share,
)
from scac.registry import Registry

Backbone = Annotated[str, Registered("scac.models.backbones:BACKBONES")]
Reduction = Literal["sum", "mean"]  # over classes: eq. 5 / SRN eq. 10 sum, "mean" divides by C

MODEL_CONFIGS: Registry[type] = Registry("model")
LOSS_CONFIGS: Registry[type] = Registry("loss config for model")


@MODEL_CONFIGS.register("scac")
@dataclass(frozen=True)
class SCACConfig:
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
    sigma: PositiveFloat = 0.5  # eq. 5: label probabilities are sigmoid(sigma * logit)
    learn_sigma: bool = False
    # element-wise fusion of the two branches' image scores
    fusion: Annotated[str, Registered("scac.models.pooling:FUSIONS")] = "mean"
    # patch scores -> image scores
    aggregation: Annotated[str, Registered("scac.models.pooling:AGGREGATIONS")] = "max"
    branches: tuple[Literal["object", "context"], ...] = ("object", "context")
    gt_patches_in_training: bool = True  # as Faster R-CNN: ground-truth boxes join the patches


@LOSS_CONFIGS.register("scac")
@dataclass(frozen=True)
class SCACLossConfig:
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


# ---------------------------------------------------------------------------------------------
# Peer models (docs/models.md): the ResNet-101 baseline and SRN's baselines (Zhu et al., CVPR
# 2017, §4.1), SRN itself (§3), and the latent-context transformer (Chen et al., 2023, §3).


@MODEL_CONFIGS.register("resnet_baseline")
@dataclass(frozen=True)
class ResNetBaselineConfig:
    """Binary relevance: global average pooling of C5 and one linear classifier (BCE).

    ``extra_blocks = 2`` is SRN's "ResNet-107" baseline (§4.1): two more residual blocks of the
    C5 width after the last one, to match SRN's added parameters.
    """

    name: str = "resnet_baseline"
    backbone: Backbone = "resnet101"
    weights: str = "none"  # backbone: none | imagenet | imagenet-v2 | synthetic | path
    extra_blocks: NonNegativeInt = 0


@LOSS_CONFIGS.register("resnet_baseline")
@dataclass(frozen=True)
class ResNetBaselineLossConfig:
    """One binary cross-entropy term on the classifier's logits (term ``cls``)."""

    label_reduction: Reduction = "sum"  # sum over classes (SRN eq. 10) or "mean" over known ones


@MODEL_CONFIGS.register("resnet_semantic")
@dataclass(frozen=True)
class ResNetSemanticConfig:
    """SRN's "ResNet-101-semantic" baseline (§4.1): the initial confidences concatenated with
    the pool5 features, then two ``hidden``-neuron and one C-neuron fully-connected layers."""

    name: str = "resnet_semantic"
    backbone: Backbone = "resnet101"
    weights: str = "none"
    hidden: Positive = 2048  # the paper's "two 2048-neuron" layers


@LOSS_CONFIGS.register("resnet_semantic")
@dataclass(frozen=True)
class ResNetSemanticLossConfig:
    """Terms ``cls`` (initial confidences) and ``semantic`` (final confidences), each weighted."""

    cls_weight: NonNegative = 1.0
    semantic_weight: NonNegative = 1.0
    label_reduction: Reduction = "sum"


@MODEL_CONFIGS.register("srn")
@dataclass(frozen=True)
class SRNConfig:
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


@LOSS_CONFIGS.register("srn")
@dataclass(frozen=True)
class SRNLossConfig:
    """Weights of SRN's four cross-entropy terms (§3.4); recipe phases pick the terms per step.

    ``cls`` = F(y, y_cls), ``att`` = F(y, y_att), ``sr`` = F(y, y_sr), ``final`` = F(y, y).
    """

    cls_weight: NonNegative = 1.0
    att_weight: NonNegative = 1.0
    sr_weight: NonNegative = 1.0
    final_weight: NonNegative = 1.0
    label_reduction: Reduction = "sum"


@MODEL_CONFIGS.register("latent_context")
@dataclass(frozen=True)
class LatentContextConfig:
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


@LOSS_CONFIGS.register("latent_context")
@dataclass(frozen=True)
class LatentContextLossConfig:
    """eq. 13: L = alpha L_cls + beta L_infer (terms ``cls`` and ``infer``)."""

    alpha: NonNegative = 1.0
    beta: NonNegative = 0.1
    label_reduction: Reduction = "sum"  # eq. 12 sums over classes
