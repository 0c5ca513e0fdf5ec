"""The spatial-context-aware network (SCAC, Zhang et al., ICASSP 2022, §2, Fig. 2).

Feature extractor (ResNeXt-101 + FPN) -> two patch generators (object patches from a region
proposal network; context patches, each object patch expanded by a ratio) -> RoIAlign -> four
patch processors (box regressor, patch classifier, object and context label predictors) ->
patch scores pooled to image scores per branch -> element-wise fusion of the two branches.

The model returns logits, boxes and probabilities, never a loss: ``scac.losses.scac_loss``
turns an :class:`SCACOutput` and the targets into L = Lr + alpha Lp + beta Ll(obj) +
gamma Ll(ctx) (eq. 6) plus the RPN's own terms.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from scac.models.heads import ContextLabelPredictor, LabelScale, ObjectPatchProcessors
from scac.models.patches import ObjectPatchGenerator, Proposals
from scac.models.spec import check_stage


@dataclass
class SCACOutput:
    """Everything the losses, metrics and visualisations need from one forward pass.

    Attributes:
        proposals: the region proposal network's raw outputs and patches.
        patches: B tensors (P_i, 4), object patches (in training, ground-truth boxes appended).
        context_patches: B tensors (P_i, 4), the expanded patches (None without context branch).
        patch_image: (N,) image index of each patch, N = sum_i P_i.
        box_deltas: (N, 4) box regressor output (Faster R-CNN encoding of x, y, w, h).
        patch_logits: (N,) patch classifier logits: does the patch hold an object?
        object_logits: (N, C) sigma-scaled object-branch label logits, or None.
        context_logits: (N, C) sigma-scaled context-branch label logits, or None.
        image_object_logits: (B, C) object-branch logits pooled over patches, or None.
        image_context_logits: (B, C) context-branch logits pooled over patches, or None.
        scores: (B, C) fused label probabilities, the model's prediction.
    """

    proposals: Proposals
    patches: list[torch.Tensor]
    context_patches: list[torch.Tensor] | None
    patch_image: torch.Tensor
    box_deltas: torch.Tensor
    patch_logits: torch.Tensor
    object_logits: torch.Tensor | None
    context_logits: torch.Tensor | None
    image_object_logits: torch.Tensor | None
    image_context_logits: torch.Tensor | None
    scores: torch.Tensor


class SCAC(nn.Module):
    """SCAC from built parts; ``scac.families.spatial_context`` makes the parts from a config.

    Args:
        backbone: image -> OrderedDict of C2..C5 feature maps (f_R).
        neck: C2..C5 -> P2..P5 pyramid (f_F).
        object_patches: object patch generator (region proposal network).
        context_patches: object patches -> context patches, or None to remove the context branch.
        roi_pool: multi-scale RoIAlign over the pyramid.
        object_head: box regressor, patch classifier and (unless removed) object label predictor.
        context_head: context label predictor, or None to remove the context branch.
        label_scale: sigma of eq. 5, applied to both branches' label logits.
        aggregation: (N, C) patch logits, (N,) image index, B -> (B, C) image logits.
        fusion: two (B, C) probability maps -> fused (B, C).
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        neck: nn.Module,
        object_patches: ObjectPatchGenerator,
        context_patches: nn.Module | None,
        roi_pool: nn.Module,
        object_head: ObjectPatchProcessors,
        context_head: ContextLabelPredictor | None,
        label_scale: LabelScale,
        aggregation: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
        fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        if (context_patches is None) != (context_head is None):
            raise ValueError("context_patches and context_head must be given together")
        if context_head is None and object_head.label_predictor is None:
            raise ValueError("at least one branch (object or context) must predict labels")
        self.backbone = backbone
        self.neck = neck
        self.object_patches = object_patches
        self.context_patches = context_patches
        self.roi_pool = roi_pool
        self.object_head = object_head
        self.context_head = context_head
        self.label_scale = label_scale
        self.aggregation = aggregation
        self.fusion = fusion

    # The parts that can be computed once and cached while frozen (scac.engine.feature_cache),
    # in order: each one's output is the next one's input.
    cacheable_stages = ("backbone", "neck")

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> SCACOutput:
        """Run SCAC on a batch.

        Args:
            images: (B, 3, H, W) normalised images.
            gt_boxes: in training, B tensors (N_i, 4) of ground-truth boxes that join the
                object patches (as in Faster R-CNN); ignored in eval mode.
        """
        return self.forward_from("neck", self.features("neck", images), images, gt_boxes)

    def features(self, stage: str, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """The output of ``stage`` (``backbone``: C2..C5; ``neck``: eq. 1's pyramid P2..P5)."""
        check_stage(stage, self.cacheable_stages)
        features = self.backbone(images)
        return self.neck(features) if stage == "neck" else features

    def forward_from(
        self,
        stage: str,
        features: OrderedDict[str, torch.Tensor],
        images: torch.Tensor,
        gt_boxes: list[torch.Tensor] | None = None,
    ) -> SCACOutput:
        """Everything after ``stage``, from its output; a cache of frozen features enters here.

        Args:
            stage: ``backbone`` or ``neck``, the part that produced ``features``.
            features: that part's output for the batch.
            images: (B, 3, H, W) images, or any (B, _, H, W) tensor: only its shape is read.
            gt_boxes: as in :meth:`forward`.
        """
        check_stage(stage, self.cacheable_stages)
        num_images = images.shape[0]
        image_sizes = [(int(images.shape[-2]), int(images.shape[-1]))] * num_images

        # Feature extractor, eq. 1: X = f_F(f_R(I)), a 4-level pyramid P2..P5
        if stage == "backbone":
            features = self.neck(features)

        # Object branch patch generator: tight patches from the region proposal network
        proposals = self.object_patches(image_sizes, images, features)
        patches = proposals.boxes
        if self.training and gt_boxes is not None:
            patches = [
                torch.cat([p, g.to(p.dtype)]) for p, g in zip(patches, gt_boxes, strict=True)
            ]
        patch_image = torch.cat(
            [
                torch.full((len(p),), i, dtype=torch.int64, device=images.device)
                for i, p in enumerate(patches)
            ]
        )  # (N,)

        # Patch processors on the object patches: regressor, classifier, object labels
        object_features = self.roi_pool(features, patches, image_sizes)  # (N, F, R, R)
        box_deltas, patch_logits, object_logits = self.object_head(object_features)

        # Context branch: the same patches expanded to see their surroundings
        context_patches = context_logits = None
        if self.context_patches is not None and self.context_head is not None:
            context_patches = self.context_patches(patches, image_sizes)
            context_features = self.roi_pool(features, context_patches, image_sizes)  # (N, F, R, R)
            context_logits = self.context_head(context_features)  # (N, C)

        # Label predictors' logits scaled by sigma (eq. 5), pooled to the image, then fused
        image_logits = []
        if object_logits is not None:
            object_logits = self.label_scale(object_logits)
            image_logits.append(self.aggregation(object_logits, patch_image, num_images))
        else:
            image_logits.append(None)
        if context_logits is not None:
            context_logits = self.label_scale(context_logits)
            image_logits.append(self.aggregation(context_logits, patch_image, num_images))
        else:
            image_logits.append(None)
        probs = [torch.sigmoid(z) for z in image_logits if z is not None]
        scores = self.fusion(*probs) if len(probs) == 2 else probs[0]  # (B, C)

        return SCACOutput(
            proposals=proposals,
            patches=patches,
            context_patches=context_patches,
            patch_image=patch_image,
            box_deltas=box_deltas,
            patch_logits=patch_logits,
            object_logits=object_logits,
            context_logits=context_logits,
            image_object_logits=image_logits[0],
            image_context_logits=image_logits[1],
            scores=scores,
        )
