"""Multi-scale RoIAlign over a feature pyramid, with a fast CPU path.

Each patch is pooled from one pyramid level chosen by eq. 1 of the FPN paper,
k = floor(k0 + log2(sqrt(w h) / s0)), exactly as torchvision's ``MultiScaleRoIAlign``; on CUDA
every level is pooled by ``torchvision.ops.roi_align``.

On the CPU, torchvision's RoIAlign backward is a serial loop over every output element and took
40% of a SCAC training step in our profile (``docs/performance.md``). RoIAlign with a fixed
sampling ratio is separable: a bin is the mean of S x S bilinear samples, and the bilinear
weight of a sample factorises into a row weight and a column weight. So for each patch,
``out = Wy @ F @ Wx^T`` with Wy (R, H) and Wx (R, W) built from the same sampling rule as
torchvision (``aligned=False``: samples at bin-relative (i + 0.5) / S, clamped at the border,
zero beyond one pixel outside the map). A patch's weights are zero outside the rows and columns
its samples touch, and the level mapping keeps every patch a few feature pixels wide, so each
patch reads only a window of the map around it (the widest patch of the level sets the window
for all): a gather of those pixels and two small batched matrix products replace the scatter
loop, and autograd derives the backward (an index_add into the map). The two paths agree to
float32 rounding (parity test in ``tests/scac/models/test_roi_align.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align

from scac.models.spec import FeatureSpec

# the gathered windows of one call stay under this size; more patches are pooled in chunks
WINDOW_BYTES = 256 * 2**20


def _axis_weights(
    start: torch.Tensor, length: torch.Tensor, size: int, bins: int, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolation weights along one axis, on the window of the map the patches touch.

    Args:
        start, length: (K,) patch starts and lengths in feature pixels.
        size: the map's length along this axis.
        bins, samples: output bins and samples per bin.

    Returns:
        (K, bins, D) weights and (K, D) map positions of the window's D pixels (D <= size,
        the same for every patch: the widest patch's extent).
    """
    bin_len = length.clamp(min=1.0) / bins  # torchvision: roi side at least one feature pixel
    offsets = torch.arange(bins, dtype=start.dtype, device=start.device)[:, None]
    offsets = (
        offsets + (torch.arange(samples, dtype=start.dtype, device=start.device) + 0.5) / samples
    )
    pos = start[:, None, None] + bin_len[:, None, None] * offsets  # (K, bins, samples)
    valid = (pos >= -1.0) & (pos <= size)  # samples beyond one pixel outside contribute zero
    pos = pos.clamp(min=0.0)
    low = pos.floor().long()
    at_end = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(pos), pos - low.to(pos.dtype))
    weight = valid.to(start.dtype) / samples
    # the window: from each patch's first touched pixel, as wide as the widest patch needs
    first, last = low.flatten(1).amin(1), high.flatten(1).amax(1)  # (K,)
    width = int((last - first).max()) + 1 if len(first) else 1
    first = first.clamp(max=size - width)[:, None, None]  # (K, 1, 1) the window stays on the map
    out = torch.zeros(start.shape[0], bins, width, dtype=start.dtype, device=start.device)
    out.scatter_add_(2, low - first, (1 - frac) * weight)
    out.scatter_add_(2, high - first, frac * weight)
    return out, first[:, 0] + torch.arange(width, device=start.device)


def separable_roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    image_index: torch.Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int,
) -> torch.Tensor:
    """RoIAlign (``aligned=False``, fixed ``sampling_ratio``) as a gather and two matrix products.

    Args:
        features: (B, C, H, W) one feature map.
        boxes: (K, 4) patches in input pixels.
        image_index: (K,) image of each patch.
        output_size: side R of the pooled output.
        spatial_scale: feature pixels per input pixel (1 / stride).
        sampling_ratio: samples per bin along each axis (> 0).

    Returns:
        (K, C, R, R) pooled features, in the order of ``boxes``.
    """
    n, c, h, w = features.shape
    k, r = len(boxes), output_size
    s = boxes * spatial_scale
    wy, rows = _axis_weights(s[:, 1], s[:, 3] - s[:, 1], h, r, sampling_ratio)  # (K,R,Hd), (K,Hd)
    wx, cols = _axis_weights(s[:, 0], s[:, 2] - s[:, 0], w, r, sampling_ratio)  # (K,R,Wd), (K,Wd)
    hd, wd = rows.shape[1], cols.shape[1]
    chunk = max(1, WINDOW_BYTES // (hd * wd * c * features.element_size()))
    if k > chunk:  # e.g. hundreds of proposals per image on full-size maps
        parts = [slice(i, i + chunk) for i in range(0, k, chunk)]
        return torch.cat(
            [
                separable_roi_align(
                    features, boxes[p], image_index[p], r, spatial_scale, sampling_ratio
                )
                for p in parts
            ]
        )
    # each patch's window of pixels, channels last: one contiguous C-vector per pixel
    pixel = (image_index[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]  # (K,Hd,Wd)
    window = features.permute(0, 2, 3, 1).reshape(n * h * w, c).index_select(0, pixel.flatten())
    t = torch.bmm(wy, window.view(k, hd, wd * c))  # rows pooled: (K, R, Wd*C)
    wx_rows = wx[:, None].expand(k, r, r, wd).reshape(k * r, r, wd)  # Wx once per output row
    out = torch.bmm(wx_rows, t.view(k * r, wd, c))  # columns pooled: (K*R, R, C)
    return out.view(k, r, r, c).permute(0, 3, 1, 2)  # (K, C, R, R)


class PyramidRoIAlign(nn.Module):
    """Pool each patch from its FPN level (eq. 1 of Lin et al.), like ``MultiScaleRoIAlign``.

    Args:
        levels: the pyramid's feature maps (names and strides), fine to coarse.
        output_size: side R of the pooled patch features.
        sampling_ratio: bilinear samples per bin and axis (torchvision's convention; > 0 for the
            fast CPU path).
        canonical_scale: a patch of this side (input pixels) pools from ``canonical_level``.
        canonical_level: k0 of eq. 1 (4 in the FPN paper).
    """

    def __init__(
        self,
        levels: list[FeatureSpec],
        output_size: int,
        sampling_ratio: int = 2,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        self.names = [f.name for f in levels]
        self.scales = [1.0 / f.stride for f in levels]
        self.k_min = int(round(math.log2(levels[0].stride)))
        self.k_max = int(round(math.log2(levels[-1].stride)))
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def level_of(self, boxes: torch.Tensor) -> torch.Tensor:
        """(K, 4) boxes -> (K,) index into the levels."""
        side = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        k = torch.floor(self.canonical_level + torch.log2(side / self.canonical_scale) + 1e-6)
        return (k.clamp(self.k_min, self.k_max) - self.k_min).to(torch.int64)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        boxes: list[torch.Tensor],
        image_sizes: list[tuple[int, int]] | None = None,
        level_boxes: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Pool ``boxes`` (B tensors (K_b, 4)) -> (sum K_b, C, R, R), in the order given.

        ``level_boxes`` (the same shapes), when given, choose each box's level in its place: a
        context patch pooled at its object patch's level.
        """
        flat = torch.cat(boxes)
        image_index = torch.cat(
            [
                torch.full((len(b),), i, device=flat.device, dtype=torch.int64)
                for i, b in enumerate(boxes)
            ]
        )
        level = self.level_of(flat if level_boxes is None else torch.cat(level_boxes))
        first = features[self.names[0]]
        out = first.new_zeros(len(flat), first.shape[1], self.output_size, self.output_size)
        fast = first.device.type == "cpu" and self.sampling_ratio > 0
        for k, (name, scale) in enumerate(zip(self.names, self.scales, strict=True)):
            idx = torch.where(level == k)[0]
            if len(idx) == 0:
                continue
            if fast:
                pooled = separable_roi_align(
                    features[name],
                    flat[idx],
                    image_index[idx],
                    self.output_size,
                    scale,
                    self.sampling_ratio,
                )
            else:
                rois = torch.cat([image_index[idx, None].to(flat.dtype), flat[idx]], 1)  # (K, 5)
                pooled = roi_align(
                    features[name], rois, self.output_size, scale, self.sampling_ratio
                )
            # in place: an out-of-place index_copy would copy every patch's output per level
            out.index_copy_(0, idx, pooled.to(out.dtype))
        return out
