"""From patch scores to image scores, and the element-wise fusion of the two branches.

Both are ablation axes, so both are registries of pure functions:

* aggregations (``max`` default: an image holds a label if one of its patches does; ``mean``);
* fusions of the branches' image-level probabilities (``mean`` default, ``max``, ``product``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from scac.registry import Registry

AGGREGATIONS: Registry[Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = Registry(
    "aggregation"
)
FUSIONS: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("fusion")


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


@FUSIONS.register("mean")
def fuse_mean(p_obj: torch.Tensor, p_ctx: torch.Tensor) -> torch.Tensor:
    """Average of the two branches' probabilities, (B, C) each."""
    return (p_obj + p_ctx) / 2


@FUSIONS.register("max")
def fuse_max(p_obj: torch.Tensor, p_ctx: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of the two branches' probabilities."""
    return torch.maximum(p_obj, p_ctx)


@FUSIONS.register("product")
def fuse_product(p_obj: torch.Tensor, p_ctx: torch.Tensor) -> torch.Tensor:
    """Element-wise product: both branches must agree."""
    return p_obj * p_ctx
