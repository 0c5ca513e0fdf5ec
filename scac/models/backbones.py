"""Backbones: image -> multi-scale feature maps, each published as a :class:`FeatureSpec`.

``tiny`` is the small 4-stage residual network of the synthetic default (16-96 channels,
strides 4-32). ``resnext101_32x8d`` is the paper's extractor (§2.2: "the last pooling and
classification layers ... are removed"); ``resnet50`` / ``resnet101`` serve the peer models. All
return the last feature map of each of the four stages (C2..C5), the FPN's inputs.

Backbones are built with frozen batch norm by default, as torchvision does for detection:
batches of two images (the paper's recipe) give useless batch statistics.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.ops.misc import FrozenBatchNorm2d

from scac.models.spec import FeatureSpec
from scac.registry import Registry

BACKBONES: Registry[Callable[..., nn.Module]] = Registry("backbone")


class _BasicBlock(nn.Module):
    """3x3-3x3 residual block with an optional stride-2 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, norm: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class TinyResNet(nn.Module):
    """A 4-stage residual network small enough to train on a CPU in minutes.

    Args:
        widths: channels of the four stages (C2..C5).
        stem: channels of the stride-2 stem.
        norm_layer: normalisation (``nn.BatchNorm2d`` to pretrain, frozen inside SCAC).
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (24, 32, 64, 96),
        stem: int = 16,
        norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), norm_layer(stem), nn.ReLU(inplace=True)
        )
        chans = (stem, *widths)
        self.stages = nn.ModuleList(
            nn.Sequential(
                _BasicBlock(chans[i], chans[i + 1], 2, norm_layer),
                _BasicBlock(chans[i + 1], chans[i + 1], 1, norm_layer),
            )
            for i in range(4)
        )
        self.features = [FeatureSpec(f"c{i + 2}", w, 2 ** (i + 2)) for i, w in enumerate(widths)]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.stem(x)  # (B, stem, H/2, W/2)
        for spec, stage in zip(self.features, self.stages, strict=True):
            x = stage(x)  # (B, channels, H/stride, W/stride)
            out[spec.name] = x
        return out


class _ShallowStage(nn.Module):
    """One 3x3 stride-2 conv, then a 1x1 residual conv: depth without receptive-field growth."""

    def __init__(self, cin: int, cout: int, norm: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Conv2d(cin, cout, 3, 2, 1, bias=False), norm(cout), nn.ReLU(inplace=True)
        )
        self.mix = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), norm(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return self.relu(x + self.mix(x))


class ShallowNet(nn.Module):
    """A 4-stage network with a small, known receptive field (7, 15, 31, 63 px at C2..C5).

    Each stage is one 3x3 stride-2 convolution followed by a 1x1 residual convolution, so a
    feature at C_k sees exactly a (2^(k+1) - 1)-pixel window. The synthetic benchmark uses it so
    that context at a known distance is out of reach of an object patch's own features.

    Args:
        widths: channels of the four stages (C2..C5).
        stem: channels of the stride-2 stem.
        norm_layer: normalisation (``nn.BatchNorm2d`` to pretrain, frozen inside SCAC).
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (32, 64, 96, 128),
        stem: int = 24,
        norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), norm_layer(stem), nn.ReLU(inplace=True)
        )
        chans = (stem, *widths)
        self.stages = nn.ModuleList(
            _ShallowStage(chans[i], chans[i + 1], norm_layer) for i in range(4)
        )
        self.features = [FeatureSpec(f"c{i + 2}", w, 2 ** (i + 2)) for i, w in enumerate(widths)]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.stem(x)  # (B, stem, H/2, W/2)
        for spec, stage in zip(self.features, self.stages, strict=True):
            x = stage(x)  # (B, channels, H/stride, W/stride)
            out[spec.name] = x
        return out


def _out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]  # Bottleneck ends in conv3, BasicBlock in conv2
    return (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels


class TorchvisionResNet(nn.Module):
    """A torchvision ResNet/ResNeXt trunk returning C2..C5 (pooling and classifier removed).

    Args:
        net: a torchvision ``ResNet``.
    """

    def __init__(self, net: tv_resnet.ResNet) -> None:
        super().__init__()
        names = {"layer1": "c2", "layer2": "c3", "layer3": "c4", "layer4": "c5"}
        self.body = IntermediateLayerGetter(net, return_layers=names)
        widths = [_out_channels(getattr(net, layer)) for layer in names]
        self.features = [FeatureSpec(f"c{i + 2}", w, 2 ** (i + 2)) for i, w in enumerate(widths)]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.body(x)  # c2..c5: (B, 256|512|1024|2048, H/4..H/32, ...) for a bottleneck net


@BACKBONES.register("tiny")
def tiny(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> nn.Module:
    """The synthetic default's backbone (about 0.5 M parameters)."""
    return TinyResNet(norm_layer=norm_layer)


@BACKBONES.register("shallow")
def shallow(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> nn.Module:
    """The synthetic default's backbone: receptive fields of 7-63 px (about 0.1 M parameters)."""
    return ShallowNet(norm_layer=norm_layer)


def _torchvision(factory: Callable[..., tv_resnet.ResNet]) -> Callable[..., nn.Module]:
    def build(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> nn.Module:
        return TorchvisionResNet(factory(weights=None, norm_layer=norm_layer))

    build.__doc__ = f"torchvision's {factory.__name__}, C2..C5, randomly initialised."
    return build


for _name in ("resnet18", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"):
    BACKBONES.add(_name, _torchvision(getattr(tv_resnet, _name)))
