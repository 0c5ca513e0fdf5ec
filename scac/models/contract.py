"""The one contract every family's model implements: what the engine, the feature cache, the
parameter counts and the figures may ask of a model, so no code outside a family asks a model
what it is.

A family's :meth:`~scac.families.base.ModelFamily.build` returns a :class:`MultiLabelModel`
subclass (checked when it is built). What a subclass provides:

* ``forward(images, gt_boxes=None) -> output``: ``images`` (B, 3, H, W) normalised,
  ``gt_boxes`` a list of B (G_i, 4) boxes in pixels during training (models that use none ignore
  them). The output is the family's dataclass with at least ``logits`` (B, C) and ``scores``
  (B, C) (the probabilities predictions and metrics read); in training it carries whatever the
  family's ``objective`` needs for its loss terms, which that objective alone reads.
* ``cacheable_stages``: in forward order, the stages (top-level parts) whose output depends on
  the frozen parts alone, so the feature cache may store it; with any, ``features(stage,
  images)`` computes a stage's output (an ordered dict of tensors by level) and
  ``forward_from(stage, features, images, gt_boxes=None)`` resumes the forward pass from it
  (``images`` for their shape only). Default: none (the model is always trained from images).
* ``no_weight_decay()``: names of parameters the optimiser must not decay (e.g. a learnable
  sigma); default none.
* ``shows``: what ``bench plot patches`` can draw for it: ``"patches"`` (object and context
  patches and their scores, :func:`scac.engine.inspect.patch_view`), ``"attention"``
  (attention maps, :func:`scac.engine.inspect.attention_view`) or ``"nothing"``.
* ``extra_parameter_rows()`` / ``extra_parameter_notes()``: the layers it adds over its
  baseline, with their weight shapes, and how that compares with its paper (``bench model
  summary``); default none.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar, Literal

import torch
from torch import nn

Shows = Literal["patches", "attention", "nothing"]


class MultiLabelModel(nn.Module):
    """Base class of every family's model (the module docstring is the contract)."""

    cacheable_stages: ClassVar[tuple[str, ...]] = ()
    shows: ClassVar[Shows] = "nothing"

    def features(self, stage: str, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """The output of cacheable stage ``stage`` for ``images``."""
        raise NotImplementedError(f"{type(self).__name__} has no cacheable stage")

    def forward_from(
        self,
        stage: str,
        features: OrderedDict[str, torch.Tensor],
        images: torch.Tensor,
        gt_boxes: list[torch.Tensor] | None = None,
    ) -> Any:
        """The forward pass from ``stage``'s cached output (models with cacheable stages)."""
        raise NotImplementedError(f"{type(self).__name__} has no cacheable stage")

    def no_weight_decay(self) -> set[str]:
        """Names of parameters the optimiser must not decay."""
        return set()

    def extra_parameter_rows(self) -> list[tuple[str, tuple[int, ...], int]]:
        """``(layer, weight shape, parameters)`` of each layer added over the baseline."""
        return []

    def extra_parameter_notes(self) -> list[str]:
        """How the added parameters compare with the paper's figure."""
        return []


def check_model(model: object, family: str) -> MultiLabelModel:
    """``model`` if it implements the contract; else a ``TypeError`` naming the family."""
    if not isinstance(model, MultiLabelModel):
        raise TypeError(
            f"model family {family!r} built a {type(model).__name__}, which is not a "
            "scac.models.contract.MultiLabelModel: subclass it (see its docstring)"
        )
    return model
