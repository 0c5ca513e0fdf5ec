"""The ``model`` and ``loss`` sections of a run config, one pair of dataclasses per model.

``model.name`` picks the entry of :data:`MODEL_CONFIGS`; the ``loss`` section's class is the
entry of :data:`LOSS_CONFIGS` under the same name. Each is a frozen dataclass of primitives,
with the paper's full-size settings as defaults; recipes and studies override them.
"""

from __future__ import annotations

from dataclasses import dataclass

from scac.registry import Registry

MODEL_CONFIGS: Registry[type] = Registry("model")
LOSS_CONFIGS: Registry[type] = Registry("loss config for model")


@MODEL_CONFIGS.register("scac")
@dataclass(frozen=True)
class SCACConfig:
    """The spatial-context-aware network (paper §2). Defaults are the paper's full-size model."""

    name: str = "scac"
    backbone: str = "resnext101_32x8d"
    weights: str = "none"  # backbone: none | imagenet | imagenet-v2 | synthetic | path
    detector_weights: str = "none"  # FPN + RPN: none | synthetic | path to a state dict
    fpn_channels: int = 256
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256)  # one size per FPN level, P2..P5
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n: int = 1000
    rpn_post_nms_top_n: int = 300  # object patches per image
    rpn_nms_thresh: float = 0.7
    roi_size: int = 7
    roi_canonical_scale: int = 224  # FPN eq. 1: a box of this side pools from P4
    representation_size: int = 1024
    context_ratio: float = 2.0  # side of a context patch / side of its object patch
    sigma: float = 0.5  # eq. 5: label probabilities are sigmoid(sigma * logit)
    learn_sigma: bool = False
    fusion: str = "mean"  # element-wise fusion of the two branches' image scores
    aggregation: str = "max"  # patch scores -> image scores
    branches: tuple[str, ...] = ("object", "context")
    gt_patches_in_training: bool = True  # as Faster R-CNN: ground-truth boxes join the patches


@LOSS_CONFIGS.register("scac")
@dataclass(frozen=True)
class SCACLossConfig:
    """Weights and sampling of eq. 6: L = Lr + alpha Lp + beta Ll(obj) + gamma Ll(ctx) + RPN."""

    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    rpn_weight: float = 1.0  # weight of the RPN's own objectness + box losses (Faster R-CNN: 1)
    patch_fg_iou: float = 0.5  # p* = 1 when the patch's max IoU with a ground-truth box exceeds it
    patch_batch_size: int = 128  # patches sampled per image for Lp and Lr
    patch_positive_fraction: float = 0.25
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    rpn_batch_size: int = 256
    rpn_positive_fraction: float = 0.5
    label_reduction: str = "sum"  # eq. 5 sums over classes; "mean" divides by C
