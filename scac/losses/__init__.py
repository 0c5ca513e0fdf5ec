"""Losses: pure functions from model outputs and batches to scalar terms.

:data:`LOSSES` maps a model name to its loss function ``(output, batch, settings) -> terms``,
with the weighted sum under ``"total"``: SCAC's (``scac_loss``) and the peer models'
(``scac.losses.peers``, docs/models.md).
"""

from collections.abc import Callable

from scac.losses.peers import baseline_loss, latent_context_loss, semantic_loss, srn_loss
from scac.losses.scac_loss import scac_loss
from scac.losses.terms import label_loss, patch_losses, rpn_loss
from scac.registry import Registry

LOSSES: Registry[Callable] = Registry("loss")
LOSSES.add("scac", scac_loss)
LOSSES.add("resnet_baseline", baseline_loss)
LOSSES.add("resnet_semantic", semantic_loss)
LOSSES.add("srn", srn_loss)
LOSSES.add("latent_context", latent_context_loss)

__all__ = [
    "LOSSES",
    "baseline_loss",
    "label_loss",
    "latent_context_loss",
    "patch_losses",
    "rpn_loss",
    "scac_loss",
    "semantic_loss",
    "srn_loss",
]
