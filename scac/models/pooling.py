"""From patch scores to image scores, and the element-wise fusion of the two branches.

All are ablation axes (readings of what the paper leaves unsaid, ``docs/readings.md``), so all
are registries of pure functions:

* patch scores: what a patch's label logits become before pooling (``labels``: as they are;
  ``objectness``: each label probability gated by the patch classifier's probability that the
  patch holds an object, §2.4; ``objectness-detached``: the same gate, through which L_l does not
  train the patch classifier; ``objectness-filter``: a patch the classifier rejects is left out);
* aggregations over an image's patches (``max`` default: an image holds a label if one of its
  patches does; ``mean``; ``lse``, a soft maximum; ``topk``, the mean of the 3 highest);
* fusions of the branches' image-level probabilities (``mean`` default, ``max``, ``product``),
  computed on log-odds: each takes and returns logits, so a fused score near 0 or 1 keeps its
  order (float32 probabilities tie at 1.0 above a logit of about 17).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from scac.registry import Registry

AGGREGATIONS: Registry[Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = Registry(
    "aggregation"
)
FUSIONS: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("fusion")
PATCH_SCORES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry(
    "patch score"
)
TOP_K = 3  # patches averaged by the ``topk`` aggregation


def logit_of_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """logit(sigmoid(a) * sigmoid(b)), exact in log space for any logits (broadcast).

    1 - s(a) s(b) = s(-a) + s(a) s(-b), so the log-odds are
    log s(a) + log s(b) - logaddexp(log s(-a), log s(a) + log s(-b)), with no 1 - p rounding.
    """
    log_sig = nn.functional.logsigmoid
    log_p = log_sig(a) + log_sig(b)
    return log_p - torch.logaddexp(log_sig(-a), log_sig(a) + log_sig(-b))


@PATCH_SCORES.register("labels")
def label_scores(label_logits: torch.Tensor, patch_logits: torch.Tensor) -> torch.Tensor:
    """(N, C) label logits as they are (the patch classifier does not reach the prediction)."""
    return label_logits


@PATCH_SCORES.register("objectness")
def objectness_gated(label_logits: torch.Tensor, patch_logits: torch.Tensor) -> torch.Tensor:
    """(N, C) logits of sigmoid(z_nc) * sigmoid(o_n): a label counts as much as its patch holds
    an object, by the patch classifier's (N,) logits o."""
    return logit_of_product(label_logits, patch_logits[:, None])


@PATCH_SCORES.register("objectness-detached")
def objectness_gated_detached(
    label_logits: torch.Tensor, patch_logits: torch.Tensor
) -> torch.Tensor:
    """(N, C) logits of sigmoid(z_nc) * sigmoid(o_n) with o detached: the gate weighs the labels,
    but L_l does not train the patch classifier through it (Lp alone does)."""
    return logit_of_product(label_logits, patch_logits.detach()[:, None])


FILTER_LOGIT = -20.0  # a filtered patch's label logits: p = 2e-9, below any patch that counts


@PATCH_SCORES.register("objectness-filter")
def objectness_filtered(label_logits: torch.Tensor, patch_logits: torch.Tensor) -> torch.Tensor:
    """(N, C) label logits of the patches the patch classifier accepts (sigmoid(o) >= 0.5), and
    ``FILTER_LOGIT`` for every label of the others: under ``max`` pooling a rejected patch is left
    out of its image's score (an image whose patches are all rejected scores about 0)."""
    keep = (patch_logits >= 0)[:, None]  # (N, 1)
    return torch.where(keep, label_logits, label_logits.new_full((), FILTER_LOGIT))


@AGGREGATIONS.register("max")
def max_over_patches(
    logits: torch.Tensor, image_index: torch.Tensor, num_images: int
) -> torch.Tensor:
    """(N, C) patch logits, (N,) image index -> (B, C) max over each image's patches."""
    out = logits.new_zeros(num_images, logits.shape[1])  # an image without patches scores 0
    index = image_index[:, None].expand_as(logits)
    return out.scatter_reduce(0, index, logits, reduce="amax", include_self=False)


@AGGREGATIONS.register("mean")
def mean_over_patches(
    logits: torch.Tensor, image_index: torch.Tensor, num_images: int
) -> torch.Tensor:
    """(N, C) patch logits, (N,) image index -> (B, C) mean over each image's patches."""
    out = logits.new_zeros(num_images, logits.shape[1])
    index = image_index[:, None].expand_as(logits)
    return out.scatter_reduce(0, index, logits, reduce="mean", include_self=False)


@AGGREGATIONS.register("lse")
def lse_over_patches(
    logits: torch.Tensor, image_index: torch.Tensor, num_images: int
) -> torch.Tensor:
    """(N, C) -> (B, C) log of the mean of exp(logits) over each image's patches: a soft
    maximum, between ``mean`` and ``max`` (log-sum-exp pooling at temperature 1)."""
    top = max_over_patches(logits, image_index, num_images).detach()  # stabiliser, (B, C)
    shifted = (logits - top[image_index]).exp()  # (N, C) <= 1
    index = image_index[:, None].expand_as(logits)
    summed = logits.new_zeros(num_images, logits.shape[1]).scatter_add(0, index, shifted)
    count = torch.bincount(image_index, minlength=num_images).clamp(min=1)[:, None]
    return top + torch.log(summed / count).nan_to_num(neginf=0.0)


@AGGREGATIONS.register("topk")
def topk_over_patches(
    logits: torch.Tensor, image_index: torch.Tensor, num_images: int
) -> torch.Tensor:
    """(N, C) -> (B, C) mean of each image's ``TOP_K`` highest patch logits per class (all of
    them when it has fewer)."""
    out = logits.new_zeros(num_images, logits.shape[1])
    for b in range(num_images):  # per image: the patches of one image are contiguous
        rows = logits[image_index == b]  # (P_b, C)
        if len(rows):
            out[b] = rows.topk(min(TOP_K, len(rows)), dim=0).values.mean(0)
    return out


@FUSIONS.register("mean")
def fuse_mean(z_obj: torch.Tensor, z_ctx: torch.Tensor) -> torch.Tensor:
    """Average of the two branches' probabilities, as (B, C) logits in and out:
    logit((s(a) + s(b)) / 2) = logaddexp(log s(a), log s(b)) - logaddexp(log s(-a), log s(-b))."""
    log_sig = nn.functional.logsigmoid
    return torch.logaddexp(log_sig(z_obj), log_sig(z_ctx)) - torch.logaddexp(
        log_sig(-z_obj), log_sig(-z_ctx)
    )


@FUSIONS.register("max")
def fuse_max(z_obj: torch.Tensor, z_ctx: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of the two branches' probabilities (the larger logit)."""
    return torch.maximum(z_obj, z_ctx)


@FUSIONS.register("product")
def fuse_product(z_obj: torch.Tensor, z_ctx: torch.Tensor) -> torch.Tensor:
    """Element-wise product of the probabilities, as logits: both branches must agree."""
    return logit_of_product(z_obj, z_ctx)
