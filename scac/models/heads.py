"""The four patch processors of SCAC (§2.4) and the sigma of eq. 5.

Object patches feed a two-layer MLP trunk (as Faster R-CNN's box head [31]) shared by three
dense outputs: the **box regressor** (4 deltas, eq. 2-3), the **patch classifier** (one
objectness logit, eq. 4) and the **object label predictor** (C logits). Context patches feed a
trunk of their own and the **context label predictor** (C logits). Each predictor is a linear
layer, so a branch switch removes exactly one of them.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead


class ObjectPatchProcessors(nn.Module):
    """Box regressor, patch classifier and (optionally) object label predictor.

    Args:
        in_channels: channels of the pooled patch features.
        roi_size: side of the pooled patch features.
        representation_size: width of the MLP trunk.
        num_classes: number of labels C.
        with_labels: False removes the object label predictor (context-only ablation).
    """

    def __init__(
        self,
        in_channels: int,
        roi_size: int,
        representation_size: int,
        num_classes: int,
        with_labels: bool = True,
    ) -> None:
        super().__init__()
        self.trunk = TwoMLPHead(in_channels * roi_size**2, representation_size)
        self.box_regressor = nn.Linear(representation_size, 4)
        self.patch_classifier = nn.Linear(representation_size, 1)
        self.label_predictor = nn.Linear(representation_size, num_classes) if with_labels else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)  # (N, F, R, R) -> (N, representation_size)
        labels = self.label_predictor(h) if self.label_predictor is not None else None  # (N, C)
        return self.box_regressor(h), self.patch_classifier(h).squeeze(1), labels


class ContextLabelPredictor(nn.Module):
    """MLP trunk + linear label predictor on context-patch features.

    Args:
        in_channels: channels of the pooled patch features.
        roi_size: side of the pooled patch features.
        representation_size: width of the MLP trunk.
        num_classes: number of labels C.
    """

    def __init__(
        self, in_channels: int, roi_size: int, representation_size: int, num_classes: int
    ) -> None:
        super().__init__()
        self.trunk = TwoMLPHead(in_channels * roi_size**2, representation_size)
        self.label_predictor = nn.Linear(representation_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.label_predictor(self.trunk(x))  # (N, F, R, R) -> (N, C)


class LabelScale(nn.Module):
    """sigma of eq. 5, read as a factor on the label logits: p = sigmoid(sigma * z).

    The paper writes ``log(sigma * y_hat)`` and calls sigma "a learnable weighting factor ...
    fixed as 0.5". Multiplying a probability by 0.5 would cap it at 0.5, so we read sigma as a
    temperature on the logits. With a linear predictor before it, sigma rescales the logits'
    effective learning rate and initial spread; learnable, it is one more scalar parameter.

    Args:
        sigma: initial (or fixed) value, > 0.
        learnable: make sigma a trained parameter.
    """

    def __init__(self, sigma: float, learnable: bool = False) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        value = torch.tensor(float(sigma))
        if learnable:
            self.sigma = nn.Parameter(value)
        else:
            self.register_buffer("sigma", value)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.sigma * logits
