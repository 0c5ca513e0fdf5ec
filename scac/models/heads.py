"""The four patch processors of SCAC (§2.4) and the sigma of eq. 5.

Object patches feed a two-layer MLP trunk (as Faster R-CNN's box head [31]) shared by three
dense outputs: the **box regressor** (4 deltas, eq. 2-3), the **patch classifier** (one
objectness logit, eq. 4) and the **object label predictor** (C logits); with
``separate_trunks`` each of the three has a trunk of its own ("four dense networks" read as four
separate MLPs). Context patches feed a trunk of their own and the **context label predictor**
(C logits). Each predictor is a linear layer, so a branch switch removes exactly one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
        separate_trunks: each predictor on an MLP trunk of its own (``trunk`` then feeds the box
            regressor alone) instead of one trunk shared by the three.
    """

    def __init__(
        self,
        in_channels: int,
        roi_size: int,
        representation_size: int,
        num_classes: int,
        with_labels: bool = True,
        separate_trunks: bool = False,
    ) -> None:
        super().__init__()
        width = in_channels * roi_size**2
        self.trunk = TwoMLPHead(width, representation_size)  # shared, or the box regressor's
        self.box_regressor = nn.Linear(representation_size, 4)
        # separate trunks: made in the order of their predictors (their random weights follow it)
        self.patch_trunk = TwoMLPHead(width, representation_size) if separate_trunks else None
        self.patch_classifier = nn.Linear(representation_size, 1)
        self.label_trunk = (
            TwoMLPHead(width, representation_size) if separate_trunks and with_labels else None
        )
        self.label_predictor = nn.Linear(representation_size, num_classes) if with_labels else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)  # (N, F, R, R) -> (N, representation_size)
        h_patch = h if self.patch_trunk is None else self.patch_trunk(x)
        labels = None
        if self.label_predictor is not None:
            h_labels = h if self.label_trunk is None else self.label_trunk(x)
            labels = self.label_predictor(h_labels)  # (N, C)
        return self.box_regressor(h), self.patch_classifier(h_patch).squeeze(1), labels

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """The object label predictor alone on other patches' features: (N, F, R, R) -> (N, C)."""
        assert self.label_predictor is not None, "the object branch predicts no labels"
        trunk = self.trunk if self.label_trunk is None else self.label_trunk
        return self.label_predictor(trunk(x))


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


READINGS = ("logit", "probability", "loss", "weight")  # of sigma in eq. 5


class LabelScale(nn.Module):
    """sigma of eq. 5, in one of the readings the paper's sentence allows.

    The paper writes the label loss with ``log(sigma * y_hat)`` and calls sigma "a learnable
    weighting factor, we fix it as 0.5". Readings (``docs/readings.md``), each as the logits the
    loss reads (:meth:`forward`), the logits of the prediction (:meth:`prediction`) and a weight
    of the loss (:meth:`loss_weight`):

    * ``logit`` (the config's default until 2026-12-07): a factor on the label logits,
      p = sigmoid(sigma * z), in the loss and the prediction: a temperature; with a linear
      predictor before it, it rescales the logits' effective learning rate and initial spread.
    * ``probability``: the literal reading, p = sigma * sigmoid(z), at most sigma. Returned as
      the logit of that probability, so the pooling and the BCE downstream are unchanged.
    * ``loss``: sigma acts in the loss only (L_l on sigmoid(sigma z)); the prediction is
      sigmoid(z).
    * ``weight`` (the config's default since 2026-12-07): sigma is a plain weight of L_l
      (sigma times the BCE of sigmoid(z)); the prediction is sigmoid(z). At sigma = 0.5 this is
      ``logit`` at sigma = 1 with the label terms halved, bit for bit.

    Learnable, sigma is kept positive (trained through its logarithm; in the probability
    reading, through a sigmoid, in (0, 1)) and excluded from weight decay
    (:meth:`no_weight_decay`), so it is a free scale, not a parameter pulled to zero. A learnable
    loss weight would only learn to vanish, so ``weight`` takes a fixed sigma.

    Args:
        sigma: initial (or fixed) value, > 0 (< 1 in the probability reading).
        learnable: make sigma a trained parameter.
        reading: one of ``READINGS``.
    """

    def __init__(self, sigma: float, learnable: bool = False, reading: str = "logit") -> None:
        super().__init__()
        if reading not in READINGS:
            raise ValueError(f"sigma reading must be one of {', '.join(READINGS)}, got {reading!r}")
        if sigma <= 0 or (reading == "probability" and sigma >= 1):
            raise ValueError(f"sigma must be > 0 (and < 1 as a probability factor), got {sigma}")
        if learnable and reading == "weight":
            raise ValueError("a learnable sigma cannot be a loss weight: it would learn to vanish")
        self.reading, self.learnable = reading, learnable
        value = torch.tensor(float(sigma))
        if learnable:  # trained unconstrained: log(sigma), or logit(sigma) as a probability factor
            free = torch.logit(value) if reading == "probability" else value.log()
            self.free = nn.Parameter(free)
        else:
            self.register_buffer("sigma", value)

    def value(self) -> torch.Tensor:
        """sigma now (a 0-d tensor)."""
        if not self.learnable:
            return self.get_buffer("sigma")
        return torch.sigmoid(self.free) if self.reading == "probability" else self.free.exp()

    def no_weight_decay(self) -> set[str]:
        """Parameters weight decay must leave alone: sigma is a scale, not a weight."""
        return {"free"} if self.learnable else set()

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) label logits -> the (N, C) logits the label loss reads."""
        if self.reading == "weight":
            return logits
        sigma = self.value()
        if self.reading == "probability":
            return logit_of_product(logits, torch.logit(sigma))  # logit(sigma * sigmoid(z))
        return sigma * logits  # (N, C)

    def separate_prediction(self) -> bool:
        """Whether the prediction reads other logits than the loss (:meth:`prediction`)."""
        return self.reading == "loss"

    def prediction(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) label logits -> the (N, C) logits of the prediction."""
        return logits if self.reading in ("loss", "weight") else self(logits)

    def loss_weight(self) -> torch.Tensor | float:
        """The weight of L_l: sigma in the ``weight`` reading, else 1."""
        return self.value() if self.reading == "weight" else 1.0


@dataclass
class BranchScores:
    """One branch's scores, from its patches' label logits.

    Attributes:
        scaled: (N, C) label logits after sigma, as the loss reads them.
        patches: (N, C) patch scores pooled into ``image`` (after the patch score).
        image: (B, C) image logits L_l reads.
        prediction_patches: (N, C) patch scores of the prediction (``patches`` unless sigma
            acts in the loss only).
        prediction: (B, C) image logits of the prediction.
    """

    scaled: torch.Tensor
    patches: torch.Tensor
    image: torch.Tensor
    prediction_patches: torch.Tensor
    prediction: torch.Tensor


class ImageScoring(nn.Module):
    """From each patch's label logits to the image's label scores, in the order of §2.4-2.5:
    sigma (eq. 5), the patch score (``scac.models.pooling.PATCH_SCORES``), the pooling over
    each image's patches (``AGGREGATIONS``), and the element-wise fusion of the branches: of
    their image scores (``fusion_stage = "image"``), or of each patch's two scores before the
    pooling (``"patch"``).

    Args:
        label_scale: sigma of eq. 5.
        patch_scores: ((N, C) label logits, (N,) patch classifier logits) -> (N, C) logits.
        aggregation: (N, C) patch logits, (N,) image index, B -> (B, C) image logits.
        fusion: two branches' (B, C) or (N, C) logits -> fused logits (of the fused
            probabilities, computed in log space).
        fusion_stage: ``image`` (pool, then fuse) or ``patch`` (fuse, then pool).
    """

    def __init__(
        self,
        label_scale: LabelScale,
        patch_scores: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        aggregation: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
        fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        fusion_stage: str = "image",
    ) -> None:
        super().__init__()
        if fusion_stage not in ("image", "patch"):
            raise ValueError(f"fusion stage must be 'image' or 'patch', got {fusion_stage!r}")
        self.label_scale = label_scale
        self.patch_scores, self.aggregation, self.fusion = patch_scores, aggregation, fusion
        self.fusion_stage = fusion_stage

    def branch(
        self,
        label_logits: torch.Tensor,
        patch_logits: torch.Tensor,
        patch_image: torch.Tensor,
        num_images: int,
    ) -> BranchScores:
        """One branch's scores from its (N, C) label logits and the (N,) patch classifier's."""
        scaled = self.label_scale(label_logits)
        scores = self.patch_scores(scaled, patch_logits)
        image = self.aggregation(scores, patch_image, num_images)
        if not self.label_scale.separate_prediction():
            return BranchScores(scaled, scores, image, scores, image)
        shown = self.patch_scores(self.label_scale.prediction(label_logits), patch_logits)
        shown_image = self.aggregation(shown, patch_image, num_images)
        return BranchScores(scaled, scores, image, shown, shown_image)

    def fuse(
        self, branches: list[BranchScores], patch_image: torch.Tensor, num_images: int
    ) -> torch.Tensor:
        """(B, C) logits of the prediction: one branch's, or both branches' fused."""
        if len(branches) == 1:
            return branches[0].prediction
        first, second = branches
        if self.fusion_stage == "image":
            return self.fusion(first.prediction, second.prediction)
        fused = self.fusion(first.prediction_patches, second.prediction_patches)  # (N, C)
        return self.aggregation(fused, patch_image, num_images)

    def no_weight_decay(self) -> set[str]:
        return {f"label_scale.{n}" for n in self.label_scale.no_weight_decay()}
