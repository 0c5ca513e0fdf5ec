"""Binary-relevance baselines: the ResNet-101 row of every table, and SRN's two other baselines.

* ``resnet_baseline``: C5 -> global average pooling ("pool5") -> one linear classifier, trained
  with binary cross-entropy (SRN §3.1 "main net"; latent-context Table 3 row 1 and Table 5
  "Baseline"). With ``extra_blocks = 2`` it is SRN's "ResNet-107" (§4.1): two more residual
  blocks of the C5 width after "res5c_relu", to match SRN's added parameters.
* ``resnet_semantic``: SRN's "ResNet-101-semantic" (§4.1): the initial label confidences
  concatenated with the pool5 features, then two ``hidden``-neuron and one C-neuron
  fully-connected layers produce the final confidences.

Both return logits and probabilities, never a loss; their families (builders and objectives)
are in ``scac.families.baseline``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from scac.models.backbones import Backbone
from scac.models.contract import MultiLabelModel


@dataclass
class ClassifierOutput:
    """One linear classifier's prediction.

    Attributes:
        logits: (B, C) label confidences before the sigmoid.
        scores: (B, C) probabilities, the model's prediction.
    """

    logits: torch.Tensor
    scores: torch.Tensor


@dataclass
class SemanticOutput:
    """ResNet-101-semantic's two stages.

    Attributes:
        cls_logits: (B, C) initial confidences of the linear classifier on pool5.
        logits: (B, C) final confidences of the semantic layers.
        scores: (B, C) probabilities of the final confidences, the model's prediction.
    """

    cls_logits: torch.Tensor
    logits: torch.Tensor
    scores: torch.Tensor


def extra_residual_blocks(channels: int, count: int) -> nn.Sequential:
    """``count`` bottleneck blocks keeping ``channels`` (ResNet-107's two 2048-channel blocks).

    They have no pretrained statistics, so their batch norm is trainable (the backbone's is
    frozen).
    """
    if channels % Bottleneck.expansion:
        raise ValueError(
            f"model.extra_blocks needs a last feature map with a multiple of "
            f"{Bottleneck.expansion} channels, got {channels}"
        )
    width = channels // Bottleneck.expansion  # 512 for ResNet-101's 2048
    return nn.Sequential(
        *(Bottleneck(channels, width, norm_layer=nn.BatchNorm2d) for _ in range(count))
    )


class SemanticLayers(nn.Module):
    """[pool5 : initial confidences] -> FC(hidden) -> ReLU -> FC(hidden) -> ReLU -> FC(C).

    Args:
        channels: pool5 feature size D.
        num_classes: number of labels C.
        hidden: width of the two hidden layers (2048 in the paper).
    """

    def __init__(self, channels: int, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(channels + num_classes, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, pooled: torch.Tensor, cls_logits: torch.Tensor) -> torch.Tensor:
        # (B, D + C) -> (B, C); the confidences are the classifier's logits, as SRN's y_cls
        return self.layers(torch.cat([pooled, cls_logits], dim=1))


class ResNetBaseline(MultiLabelModel):
    """Backbone -> (optional extra residual blocks) -> pool5 -> linear classifier.

    Args:
        backbone: image -> OrderedDict of feature maps; the last one is C5.
        classifier: (B, D) pooled features -> (B, C) logits.
        extra_blocks: (B, D, h, w) -> (B, D, h, w) residual blocks (ResNet-107), or None.
    """

    def __init__(
        self, *, backbone: Backbone, classifier: nn.Linear, extra_blocks: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.extra_blocks = extra_blocks
        self.classifier = classifier
        self.level = backbone.features[-1].name

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> ClassifierOutput:
        """Label confidences of a batch; ``gt_boxes`` is accepted for the engine and unused."""
        x = self.backbone(images)[self.level]  # (B, D, H/32, W/32)
        if self.extra_blocks is not None:
            x = self.extra_blocks(x)  # "res6a", "res6b": same shape
        logits = self.classifier(x.mean(dim=(2, 3)))  # pool5 (B, D) -> (B, C)
        return ClassifierOutput(logits=logits, scores=torch.sigmoid(logits))


class ResNetSemantic(MultiLabelModel):
    """Backbone -> pool5 -> initial confidences -> semantic layers -> final confidences.

    Args:
        backbone: image -> OrderedDict of feature maps; the last one is C5.
        classifier: (B, D) pooled features -> (B, C) initial confidences.
        semantic: pooled features and initial confidences -> (B, C) final confidences.
    """

    def __init__(
        self, *, backbone: Backbone, classifier: nn.Linear, semantic: SemanticLayers
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.semantic = semantic
        self.level = backbone.features[-1].name

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> SemanticOutput:
        """Initial and final label confidences; ``gt_boxes`` is unused."""
        pooled = self.backbone(images)[self.level].mean(dim=(2, 3))  # pool5 (B, D)
        cls_logits = self.classifier(pooled)  # (B, C)
        logits = self.semantic(pooled, cls_logits)  # (B, C) label relations from confidences
        return SemanticOutput(cls_logits=cls_logits, logits=logits, scores=torch.sigmoid(logits))
