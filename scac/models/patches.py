"""The two patch generators of SCAC (§2.3).

* :class:`ObjectPatchGenerator`, the object branch: torchvision's region proposal network
  (Faster R-CNN [31]) proposes tight object patches with confidence scores. Its losses are not
  computed here (torchvision's ``RegionProposalNetwork.forward`` would): the raw objectness and
  box deltas are returned for :func:`scac.losses.rpn_loss`.
* Context patch generators, the context branch: each object patch expanded to see its
  surroundings. ``expand`` scales every patch's sides about its centre by ``ratio`` (1.0 = no
  context) and clips it to the image; ``expand-shifted`` moves the scaled patch inside the image
  instead of clipping it (a patch at the border keeps its full context area); ``expand-area``
  scales its area by ``ratio`` (its sides by the square root). "The expanded context patch is
  only used to determine the label of the object, but not for locating the object."
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, concat_box_prediction_layers
from torchvision.ops import boxes as box_ops

from scac.losses.terms import PATCH_CODER
from scac.registry import Registry

CONTEXT_PATCHES: Registry[Callable[..., ExpandPatches]] = Registry("context patch generator")


@dataclass
class Proposals:
    """What the object patch generator returns.

    Attributes:
        objectness: (sum_i A_i,) anchor objectness logits, images concatenated.
        deltas: (sum_i A_i, 4) anchor box deltas.
        anchors: B tensors (A_i, 4), anchors x1 y1 x2 y2.
        boxes: B tensors (P_i, 4), object patches after NMS (detached).
        scores: B tensors (P_i,), their objectness probabilities.
    """

    objectness: torch.Tensor
    deltas: torch.Tensor
    anchors: list[torch.Tensor]
    boxes: list[torch.Tensor]
    scores: list[torch.Tensor]


class ObjectPatchGenerator(nn.Module):
    """Region proposal network without its built-in loss.

    Args:
        rpn: a torchvision ``RegionProposalNetwork`` (anchor generator, head, NMS settings).
    """

    def __init__(self, rpn: RegionProposalNetwork) -> None:
        super().__init__()
        self.rpn = rpn

    def forward(
        self,
        image_sizes: list[tuple[int, int]],
        images: torch.Tensor,
        features: OrderedDict[str, torch.Tensor],
    ) -> Proposals:
        feats = list(features.values())
        objectness, deltas = self.rpn.head(feats)  # per level: (B, A, H, W), (B, 4A, H, W)
        anchors = self.rpn.anchor_generator(ImageList(images, image_sizes), feats)
        per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)  # (B*A, 1), (B*A, 4)
        # detach: proposals are not back-propagated, as in Faster R-CNN
        boxes = self.rpn.box_coder.decode(deltas.detach(), anchors).view(len(anchors), -1, 4)
        boxes, scores = self.rpn.filter_proposals(boxes, objectness, image_sizes, per_level)
        return Proposals(objectness.flatten(), deltas, anchors, boxes, scores)


class ExpandPatches(nn.Module):
    """Scale each box about its centre by ``ratio`` and clip it to the image.

    Args:
        ratio: side of a context patch over the side of its object patch (>= 1).
    """

    def __init__(self, ratio: float) -> None:
        super().__init__()
        if ratio < 1.0:
            raise ValueError(f"context_ratio must be >= 1.0 (1.0 = no context), got {ratio}")
        self.ratio = ratio

    @property
    def side_ratio(self) -> float:
        """Side of a context patch over the side of its object patch."""
        return self.ratio

    def scaled(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, 4) boxes -> their (P, 2) low and high corners scaled about the centre."""
        centre = (b[:, :2] + b[:, 2:]) / 2  # (P, 2)
        half = (b[:, 2:] - b[:, :2]) * (self.side_ratio / 2)  # (P, 2)
        return centre - half, centre + half

    def forward(
        self, boxes: list[torch.Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[torch.Tensor]:
        return [
            box_ops.clip_boxes_to_image(torch.cat(self.scaled(b), 1), size)
            for b, size in zip(boxes, image_sizes, strict=True)
        ]

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class ShiftedExpandPatches(ExpandPatches):
    """Scale each box about its centre by ``ratio``, then shift it to lie inside the image; only
    a patch wider (taller) than the image is clipped, centred on the image along that axis."""

    def forward(
        self, boxes: list[torch.Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[torch.Tensor]:
        out = []
        for b, (height, width) in zip(boxes, image_sizes, strict=True):
            low, high = self.scaled(b)  # (P, 2) x, y each
            limit = b.new_tensor([width, height])  # (2,)
            shift = (-low).clamp(min=0) - (high - limit).clamp(min=0)  # (P, 2) into the image
            moved = torch.cat([low + shift, high + shift], 1)
            out.append(box_ops.clip_boxes_to_image(moved, (height, width)))
        return out


class AreaExpandPatches(ExpandPatches):
    """Scale each box's area by ``ratio`` (its sides by sqrt(ratio)) about its centre, clipped
    (``ratio``: area of a context patch over the area of its object patch, >= 1)."""

    @property
    def side_ratio(self) -> float:
        return math.sqrt(self.ratio)

    def extra_repr(self) -> str:
        return f"area ratio={self.ratio}"


CONTEXT_PATCHES.add("expand", ExpandPatches)
CONTEXT_PATCHES.add("expand-shifted", ShiftedExpandPatches)
CONTEXT_PATCHES.add("expand-area", AreaExpandPatches)


class RefinePatches(nn.Module):
    """Each patch moved by the box regressor's deltas (Faster R-CNN's second-stage decoding,
    the coder of ``scac.losses.terms``), clipped to the image: the patches a label predictor
    sees when labels come from the refined patches."""

    def forward(
        self,
        patches: list[torch.Tensor],
        deltas: torch.Tensor,
        image_sizes: list[tuple[int, int]],
    ) -> list[torch.Tensor]:
        boxes = PATCH_CODER.decode_single(deltas, torch.cat(patches))  # (N, 4)
        sizes = [len(p) for p in patches]
        return [
            box_ops.clip_boxes_to_image(b, size)
            for b, size in zip(boxes.split(sizes), image_sizes, strict=True)
        ]
