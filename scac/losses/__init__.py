"""Losses: pure functions from model outputs and batches to scalar terms.

:data:`LOSSES` maps a model name to its loss function ``(output, batch, settings) -> terms``,
with the weighted sum under ``"total"``.
"""

from collections.abc import Callable

from scac.losses.scac_loss import scac_loss
from scac.losses.terms import label_loss, patch_losses, rpn_loss
from scac.registry import Registry

LOSSES: Registry[Callable] = Registry("loss")
LOSSES.add("scac", scac_loss)

__all__ = ["LOSSES", "label_loss", "patch_losses", "rpn_loss", "scac_loss"]
