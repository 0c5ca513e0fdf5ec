"""Feature pyramid neck (SCAC §2.2, eq. 1: X = f_F(f_R(I))), torchvision's FPN.

A 4-level pyramid P2..P5 "from high to low resolution" is built on the backbone's C2..C5, with
no extra pooled level: the paper names four stages. §2.2 also says "the feature maps from the
last convolutional layer are used as the input of FPN": read literally, C5 alone
(:class:`C5Pyramid`, ``model.fpn_input = "c5"``), the four levels made by the top-down pathway
without lateral connections.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F
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


class C5Pyramid(nn.Module):
    """FPN's top-down pathway on C5 alone: P5 from a 1x1 then a 3x3 convolution of C5, each finer
    level from the nearest-neighbour upsampling of the coarser one's inner map through a 3x3
    convolution of its own, with no lateral input from C2..C4. The levels keep the strides and
    names of :class:`FPNNeck`'s, so anchors and RoIAlign read them alike.

    Args:
        in_features: the backbone's published feature maps, fine to coarse (only the last one is
            read; the others give the levels' sizes).
        out_channels: channels of every pyramid level.
    """

    def __init__(self, in_features: list[FeatureSpec], out_channels: int) -> None:
        super().__init__()
        self.in_names = [f.name for f in in_features]
        self.inner = nn.Conv2d(in_features[-1].channels, out_channels, 1)
        self.layers = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_features
        )
        for conv in (self.inner, *self.layers):  # torchvision's FPN initialisation
            assert isinstance(conv, nn.Conv2d) and conv.bias is not None
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.constant_(conv.bias, 0)
        self.features = [FeatureSpec(f"p{f.name[1:]}", out_channels, f.stride) for f in in_features]

    def forward(self, feats: OrderedDict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
        inner = self.inner(feats[self.in_names[-1]])  # (B, out_channels, H/32, W/32)
        levels = [self.layers[-1](inner)]
        for k in range(len(self.in_names) - 2, -1, -1):  # finer and finer, to P2
            inner = F.interpolate(inner, size=feats[self.in_names[k]].shape[-2:], mode="nearest")
            levels.insert(0, self.layers[k](inner))
        return OrderedDict((spec.name, x) for spec, x in zip(self.features, levels, strict=True))
