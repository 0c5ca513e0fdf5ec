"""Losses: pure functions over tensors, the terms every model family's objective is made of.

Each family assembles its own weighted terms (``scac.families``): this package knows no model.
"""

from scac.losses.terms import label_loss, patch_label_targets, patch_losses, rpn_loss, with_total

__all__ = ["label_loss", "patch_label_targets", "patch_losses", "rpn_loss", "with_total"]
