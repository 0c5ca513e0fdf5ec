"""The peer models' losses: weighted binary cross-entropy terms, and their sum under "total".

Every term is :func:`scac.losses.terms.label_loss` on (B, C) logits, so unknown labels
(``batch.label_mask`` False: the partial-label protocol, VOC "difficult") count neither as
positive nor as negative. A recipe phase may optimise a subset of the terms by name
(``train.phases.N.loss_terms``), which is how SRN's four training steps are written.

* ``resnet_baseline``: ``cls``.
* ``resnet_semantic``: ``cls`` (initial confidences) + ``semantic`` (final ones). The paper does
  not say how the baseline is trained; supervising both keeps the "initial confidences" what
  their name says.
* ``srn`` (§3.4, eq. 10): ``cls`` = F(y, y_cls) (step 1), ``att`` = F(y, y_att) (step 2),
  ``sr`` = F(y, y_sr) (step 3), ``final`` = F(y, y) (step 4 with ``att``). "total" sums all four;
  the paper's schedule selects them per phase (studies/recipes/srn-synth.toml).
* ``latent_context`` (eq. 13): ``cls`` = alpha L_cls(y) + ``infer`` = beta L_infer(y_infer); the
  second only when the model has a partial branch and is training.
"""

from __future__ import annotations

import torch

from scac.data.batch import Batch
from scac.losses.terms import label_loss
from scac.model_configs import (
    LatentContextLossConfig,
    ResNetBaselineLossConfig,
    ResNetSemanticLossConfig,
    SRNLossConfig,
)
from scac.models.baseline import ClassifierOutput, SemanticOutput
from scac.models.latent_context import LatentContextOutput
from scac.models.srn import SRNOutput


def _with_total(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    terms["total"] = sum(terms.values())
    return terms


def baseline_loss(
    output: ClassifierOutput, batch: Batch, settings: ResNetBaselineLossConfig
) -> dict[str, torch.Tensor]:
    """Binary relevance: one BCE term ``cls``.

    Args:
        output: the model's forward pass on ``batch``.
        batch: labels and their mask.
        settings: the ``loss`` section.
    """
    cls = label_loss(output.logits, batch.labels, batch.label_mask, settings.label_reduction)
    return _with_total({"cls": cls})


def semantic_loss(
    output: SemanticOutput, batch: Batch, settings: ResNetSemanticLossConfig
) -> dict[str, torch.Tensor]:
    """ResNet-101-semantic: ``cls`` on the initial and ``semantic`` on the final confidences.

    Args:
        output: the model's forward pass on ``batch``.
        batch: labels and their mask.
        settings: the ``loss`` section.
    """
    y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
    return _with_total(
        {
            "cls": settings.cls_weight * label_loss(output.cls_logits, y, mask, reduction),
            "semantic": settings.semantic_weight * label_loss(output.logits, y, mask, reduction),
        }
    )


def srn_loss(output: SRNOutput, batch: Batch, settings: SRNLossConfig) -> dict[str, torch.Tensor]:
    """SRN's cross-entropy F (eq. 10) on each of its confidences, weighted.

    Args:
        output: the model's forward pass on ``batch``.
        batch: labels and their mask.
        settings: the ``loss`` section.
    """
    y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
    return _with_total(
        {
            "cls": settings.cls_weight * label_loss(output.cls_logits, y, mask, reduction),
            "att": settings.att_weight * label_loss(output.att_logits, y, mask, reduction),
            "sr": settings.sr_weight * label_loss(output.sr_logits, y, mask, reduction),
            "final": settings.final_weight * label_loss(output.logits, y, mask, reduction),
        }
    )


def latent_context_loss(
    output: LatentContextOutput, batch: Batch, settings: LatentContextLossConfig
) -> dict[str, torch.Tensor]:
    """eq. 13: alpha L_cls on y (eq. 11-12) + beta L_infer on y_infer when there is one.

    Args:
        output: the model's forward pass on ``batch``.
        batch: labels and their mask.
        settings: the ``loss`` section.
    """
    y, mask, reduction = batch.labels, batch.label_mask, settings.label_reduction
    terms = {"cls": settings.alpha * label_loss(output.logits, y, mask, reduction)}
    if output.infer_logits is not None:
        terms["infer"] = settings.beta * label_loss(output.infer_logits, y, mask, reduction)
    return _with_total(terms)
