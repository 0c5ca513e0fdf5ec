"""The spatial-context-aware network (SCAC, Zhang et al., ICASSP 2022, §2, Fig. 2).

Feature extractor (ResNeXt-101 + FPN) -> two patch generators (object patches from a region
proposal network; context patches, each object patch expanded by a ratio) -> RoIAlign -> four
patch processors (box regressor, patch classifier, object and context label predictors) ->
patch scores pooled to image scores per branch -> element-wise fusion of the two branches (or
each patch's two scores fused, then pooled).

The model returns logits, boxes and probabilities, never a loss: its family's objective
(``scac.families.spatial_context``) turns an :class:`SCACOutput` and the targets into
L = Lr + alpha Lp + beta Ll(obj) + gamma Ll(ctx) (eq. 6) plus the RPN's own terms.

Where the paper is silent the model takes switches (``docs/readings.md``): whether ground-truth
boxes join the patches in training, whether the label predictors see the proposals or the
patches the box regressor refined, which pyramid level a context patch pools from, how patch
scores become image scores and the branches are fused (``ImageScoring``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from scac.models.backbones import Backbone
from scac.models.contract import MultiLabelModel
from scac.models.heads import ContextLabelPredictor, ImageScoring, ObjectPatchProcessors
from scac.models.patches import ExpandPatches, ObjectPatchGenerator, Proposals
from scac.models.spec import check_stage


@dataclass
class SCACOutput:
    """Everything the losses, metrics and visualisations need from one forward pass.

    Attributes:
        proposals: the region proposal network's raw outputs and patches.
        patches: B tensors (P_i, 4), object patches (in training, ground-truth boxes appended
            unless switched off): what the box regressor and the patch classifier see.
        label_patches: B tensors (P_i, 4), the patches the label predictors see: ``patches``,
            or the box regressor's refinement of them.
        context_patches: B tensors (P_i, 4), ``label_patches`` expanded (None without context).
        patch_image: (N,) image index of each patch, N = sum_i P_i.
        box_deltas: (N, 4) box regressor output (Faster R-CNN encoding of x, y, w, h).
        patch_logits: (N,) patch classifier logits: does the patch hold an object?
        object_logits: (N, C) sigma-scaled object-branch label logits, or None.
        context_logits: (N, C) sigma-scaled context-branch label logits, or None.
        object_patch_scores: (N, C) the object branch's patch scores that L_l reads (its
            logits after the patch score), or None.
        context_patch_scores: (N, C) the same of the context branch, or None.
        image_object_logits: (B, C) object-branch logits pooled over patches, or None.
        image_context_logits: (B, C) context-branch logits pooled over patches, or None.
        label_loss_weight: the weight of L_l from sigma (sigma when it is read as a loss weight,
            else 1).
        logits: (B, C) log-odds of the fused label probabilities (exact in log space: they
            keep the order of scores that round to 0 or 1 in float32).
        scores: (B, C) fused label probabilities, the model's prediction: sigmoid(logits).
    """

    proposals: Proposals
    patches: list[torch.Tensor]
    label_patches: list[torch.Tensor]
    context_patches: list[torch.Tensor] | None
    patch_image: torch.Tensor
    box_deltas: torch.Tensor
    patch_logits: torch.Tensor
    object_logits: torch.Tensor | None
    context_logits: torch.Tensor | None
    object_patch_scores: torch.Tensor | None
    context_patch_scores: torch.Tensor | None
    image_object_logits: torch.Tensor | None
    image_context_logits: torch.Tensor | None
    label_loss_weight: torch.Tensor | float
    logits: torch.Tensor
    scores: torch.Tensor


class SCAC(MultiLabelModel):
    """SCAC from built parts; ``scac.families.spatial_context`` makes the parts from a config.

    Args:
        backbone: image -> OrderedDict of C2..C5 feature maps (f_R).
        neck: C2..C5 -> P2..P5 pyramid (f_F).
        object_patches: object patch generator (region proposal network).
        context_patches: object patches -> context patches, or None to remove the context branch.
        roi_pool: multi-scale RoIAlign over the pyramid.
        object_head: box regressor, patch classifier and (unless removed) object label predictor.
        context_head: context label predictor, or None to remove the context branch.
        scoring: sigma of eq. 5, patch scores, pooling over patches, fusion of the branches.
        refine_patches: (patches, box deltas, image sizes) -> the refined patches the label
            predictors see, or None: they see the proposals.
        gt_patches_in_training: ground-truth boxes join the patches in training (Faster R-CNN).
        context_level: a context patch pools from the pyramid level its own size maps to
            (``own``) or from its object patch's (``object``).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        neck: nn.Module,
        object_patches: ObjectPatchGenerator,
        context_patches: ExpandPatches | None,
        roi_pool: nn.Module,
        object_head: ObjectPatchProcessors,
        context_head: ContextLabelPredictor | None,
        scoring: ImageScoring,
        refine_patches: Callable[..., list[torch.Tensor]] | None = None,
        gt_patches_in_training: bool = True,
        context_level: str = "own",
    ) -> None:
        super().__init__()
        if (context_patches is None) != (context_head is None):
            raise ValueError("context_patches and context_head must be given together")
        if context_head is None and object_head.label_predictor is None:
            raise ValueError("at least one branch (object or context) must predict labels")
        if context_level not in ("own", "object"):
            raise ValueError(f"context level must be 'own' or 'object', got {context_level!r}")
        self.backbone = backbone
        self.neck = neck
        self.object_patches = object_patches
        self.context_patches = context_patches
        self.roi_pool = roi_pool
        self.object_head = object_head
        self.context_head = context_head
        self.scoring = scoring
        self.refine_patches = refine_patches
        self.gt_patches_in_training = gt_patches_in_training
        self.context_level = context_level

    # The parts that can be computed once and cached while frozen (scac.engine.feature_cache),
    # in order: each one's output is the next one's input.
    cacheable_stages = ("backbone", "neck")
    shows = "patches"  # bench plot patches: the object and context patches and their scores

    def no_weight_decay(self) -> set[str]:
        """Parameters the optimiser must not decay (a learnable sigma)."""
        return {f"scoring.{n}" for n in self.scoring.no_weight_decay()}

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> SCACOutput:
        """Run SCAC on a batch.

        Args:
            images: (B, 3, H, W) normalised images.
            gt_boxes: in training, B tensors (N_i, 4) of ground-truth boxes that join the
                object patches (as in Faster R-CNN, unless switched off); ignored in eval mode.
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
        if self.training and gt_boxes is not None and self.gt_patches_in_training:
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
        label_patches = patches
        if self.refine_patches is not None:  # labels from the regressor's refined patches
            label_patches = self.refine_patches(patches, box_deltas.detach(), image_sizes)
            if object_logits is not None:
                refined = self.roi_pool(features, label_patches, image_sizes)  # (N, F, R, R)
                object_logits = self.object_head.labels(refined)  # (N, C)
        # Context branch: the label patches expanded to see their surroundings
        context_patches = context_logits = None
        if self.context_patches is not None and self.context_head is not None:
            context_patches = self.context_patches(label_patches, image_sizes)
            levels = label_patches if self.context_level == "object" else None
            context_features = self.roi_pool(
                features, context_patches, image_sizes, level_boxes=levels
            )  # (N, F, R, R)
            context_logits = self.context_head(context_features)  # (N, C)
        # Label logits scaled by sigma (eq. 5), scored per patch, pooled to the image, fused
        obj = ctx = None
        if object_logits is not None:
            obj = self.scoring.branch(object_logits, patch_logits, patch_image, num_images)
        if context_logits is not None:
            ctx = self.scoring.branch(context_logits, patch_logits, patch_image, num_images)
        branches = [b for b in (obj, ctx) if b is not None]
        logits = self.scoring.fuse(branches, patch_image, num_images)  # (B, C)
        return SCACOutput(
            proposals=proposals,
            patches=patches,
            label_patches=label_patches,
            context_patches=context_patches,
            patch_image=patch_image,
            box_deltas=box_deltas,
            patch_logits=patch_logits,
            object_logits=obj.scaled if obj else None,
            context_logits=ctx.scaled if ctx else None,
            object_patch_scores=obj.patches if obj else None,
            context_patch_scores=ctx.patches if ctx else None,
            image_object_logits=obj.image if obj else None,
            image_context_logits=ctx.image if ctx else None,
            label_loss_weight=self.scoring.label_scale.loss_weight(),
            logits=logits,
            scores=torch.sigmoid(logits),
        )
