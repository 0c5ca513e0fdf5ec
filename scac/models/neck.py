"""Feature pyramid neck (SCAC §2.2, eq. 1: X = f_F(f_R(I))), torchvision's FPN.

A 4-level pyramid P2..P5 "from high to low resolution" is built on the backbone's C2..C5, with
no extra pooled level: the paper names four stages.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork

from scac.models.spec import FeatureSpec


class FPNNeck(nn.Module):
    """Lateral 1x1 + top-down pathway + 3x3 output convs over the backbone's feature maps.

    Args:
        in_features: the backbone's published feature maps, fine to coarse.
        out_channels: channels of every pyramid level.
    """

    def __init__(self, in_features: list[FeatureSpec], out_channels: int) -> None:
        super().__init__()
        self.in_names = [f.name for f in in_features]
        self.fpn = FeaturePyramidNetwork([f.channels for f in in_features], out_channels)
        self.features = [FeatureSpec(f"p{f.name[1:]}", out_channels, f.stride) for f in in_features]

    def forward(self, feats: OrderedDict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        pyramid = self.fpn(OrderedDict((n, feats[n]) for n in self.in_names))
        # rename c2..c5 -> p2..p5: (B, out_channels, H/stride, W/stride) each
        return OrderedDict(
            (spec.name, pyramid[n]) for spec, n in zip(self.features, self.in_names, strict=True)
        )
