"""The four patch processors of SCAC (§2.4) and the sigma of eq. 5.

Object patches feed a two-layer MLP trunk (as Faster R-CNN's box head [31]) shared by three
dense outputs: the **box regressor** (4 deltas, eq. 2-3), the **patch classifier** (one
objectness logit, eq. 4) and the **object label predictor** (C logits). Context patches feed a
trunk of their own and the **context label predictor** (C logits). Each predictor is a linear
layer, so a branch switch removes exactly one of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead

from scac.models.pooling import logit_of_product


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

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """The object label predictor alone on other patches' features: (N, F, R, R) -> (N, C)."""
        assert self.label_predictor is not None, "the object branch predicts no labels"
        return self.label_predictor(self.trunk(x))


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
    """sigma of eq. 5, in one of the two readings the paper's sentence allows.

    The paper writes the label loss with ``log(sigma * y_hat)`` and calls sigma "a learnable
    weighting factor, we fix it as 0.5". Two readings (``docs/readings.md``):

    * ``logit`` (default): a factor on the label logits, p = sigmoid(sigma * z). Multiplying a
      probability by 0.5 would cap it at 0.5, so we read sigma as a temperature; with a linear
      predictor before it, it rescales the logits' effective learning rate and initial spread.
    * ``probability``: the literal reading, p = sigma * sigmoid(z), at most sigma. Returned as
      the logit of that probability, so the pooling and the BCE downstream are unchanged.

    Learnable, sigma is kept positive (trained through its logarithm; in the probability
    reading, through a sigmoid, in (0, 1)) and excluded from weight decay
    (:meth:`no_weight_decay`), so it is a free scale, not a parameter pulled to zero.

    Args:
        sigma: initial (or fixed) value, > 0 (< 1 in the probability reading).
        learnable: make sigma a trained parameter.
        reading: ``logit`` or ``probability``.
    """

    def __init__(self, sigma: float, learnable: bool = False, reading: str = "logit") -> None:
        super().__init__()
        if reading not in ("logit", "probability"):
            raise ValueError(f"sigma reading must be 'logit' or 'probability', got {reading!r}")
        if sigma <= 0 or (reading == "probability" and sigma >= 1):
            raise ValueError(f"sigma must be > 0 (and < 1 as a probability factor), got {sigma}")
        self.reading, self.learnable = reading, learnable
        value = torch.tensor(float(sigma))
        if learnable:  # trained unconstrained: log(sigma), or logit(sigma) as a probability factor
            self.free = nn.Parameter(value.log() if reading == "logit" else torch.logit(value))
        else:
            self.register_buffer("sigma", value)

    def value(self) -> torch.Tensor:
        """sigma now (a 0-d tensor)."""
        if not self.learnable:
            return self.get_buffer("sigma")
        return self.free.exp() if self.reading == "logit" else torch.sigmoid(self.free)

    def no_weight_decay(self) -> set[str]:
        """Parameters weight decay must leave alone: sigma is a scale, not a weight."""
        return {"free"} if self.learnable else set()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        sigma = self.value()
        if self.reading == "logit":
            return sigma * logits  # (N, C)
        return logit_of_product(logits, torch.logit(sigma))  # logit(sigma * sigmoid(z))


class ImageScoring(nn.Module):
    """From each patch's label logits to the image's label scores, in the order of §2.4-2.5:
    sigma (eq. 5), the patch score (``scac.models.pooling.PATCH_SCORES``), the pooling over
    each image's patches (``AGGREGATIONS``), then the element-wise fusion of the branches.

    Args:
        label_scale: sigma of eq. 5.
        patch_scores: ((N, C) label logits, (N,) patch classifier logits) -> (N, C) logits.
        aggregation: (N, C) patch logits, (N,) image index, B -> (B, C) image logits.
        fusion: two branches' (B, C) image logits -> fused (B, C) logits (of the fused
            probabilities, computed in log space).
    """

    def __init__(
        self,
        label_scale: LabelScale,
        patch_scores: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        aggregation: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
        fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        self.label_scale = label_scale
        self.patch_scores, self.aggregation, self.fusion = patch_scores, aggregation, fusion

    def branch(
        self,
        label_logits: torch.Tensor,
        patch_logits: torch.Tensor,
        patch_image: torch.Tensor,
        num_images: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma-scaled patch logits (N, C), image logits (B, C)) of one branch."""
        scaled = self.label_scale(label_logits)
        scores = self.patch_scores(scaled, patch_logits)
        return scaled, self.aggregation(scores, patch_image, num_images)

    def fuse(self, image_logits: list[torch.Tensor]) -> torch.Tensor:
        """(B, C) logits of the prediction: one branch's, or both branches' fused."""
        return self.fusion(*image_logits) if len(image_logits) == 2 else image_logits[0]

    def no_weight_decay(self) -> set[str]:
        return {f"label_scale.{n}" for n in self.label_scale.no_weight_decay()}
