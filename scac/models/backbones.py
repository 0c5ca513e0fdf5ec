"""Backbones: image -> multi-scale feature maps, each published as a :class:`FeatureSpec`.

``shallow`` (the synthetic default, receptive fields 7-63 px) and ``tiny`` (a small residual
net for tests) are :class:`FourStageNet` with different stages, strides 4-32.
``resnext101_32x8d`` is the paper's extractor (§2.2: "the last pooling and classification
layers ... are removed"); ``resnet50`` / ``resnet101`` serve the peer models. All return the
last feature map of each of the four stages (C2..C5), the FPN's inputs.

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

BACKBONES: Registry[Callable[..., Backbone]] = Registry("backbone")


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


def _residual_stage(cin: int, cout: int, norm: Callable[[int], nn.Module]) -> nn.Module:
    """Two basic blocks, the first with stride 2: the ``tiny`` network's stage."""
    return nn.Sequential(_BasicBlock(cin, cout, 2, norm), _BasicBlock(cout, cout, 1, norm))


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


class Backbone(nn.Module):
    """What every backbone is: a module from images to C2..C5 (an ordered dict by level name),
    with ``features`` saying each level's name, channels and stride."""

    features: list[FeatureSpec]


class FourStageNet(Backbone):
    """A stride-2 stem and four stride-2 stages, C2..C5 at strides 4-32: the synthetic
    default's small backbones, which differ only in their stage.

    Args:
        stage: ``(in channels, out channels, norm) -> module`` halving the resolution.
        widths: channels of the four stages (C2..C5).
        stem: channels of the stride-2 stem.
        norm_layer: normalisation (``nn.BatchNorm2d`` to pretrain, frozen inside SCAC).
    """

    def __init__(
        self,
        stage: Callable[[int, int, Callable[[int], nn.Module]], nn.Module],
        widths: tuple[int, int, int, int],
        stem: int,
        norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem, 3, 2, 1, bias=False), norm_layer(stem), nn.ReLU(inplace=True)
        )
        chans = (stem, *widths)
        self.stages = nn.ModuleList(stage(chans[i], chans[i + 1], norm_layer) for i in range(4))
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
    conv = last.conv3 if isinstance(last, tv_resnet.Bottleneck) else last.conv2
    assert isinstance(conv, nn.Conv2d)
    return conv.out_channels


class TorchvisionResNet(Backbone):
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
def tiny(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> Backbone:
    """A small residual network (two basic blocks per stage, about 0.5 M parameters)."""
    return FourStageNet(_residual_stage, (24, 32, 64, 96), 16, norm_layer)


@BACKBONES.register("shallow")
def shallow(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> Backbone:
    """The synthetic default's backbone (about 0.1 M parameters): each stage one 3x3 stride-2
    convolution and a 1x1 residual one, so a feature at C_k sees exactly a (2^(k+1) - 1)-pixel
    window (7, 15, 31, 63 px at C2..C5), and context at a known distance is out of reach of an
    object patch's own features."""
    return FourStageNet(_ShallowStage, (32, 64, 96, 128), 24, norm_layer)


def _torchvision(factory: Callable[..., tv_resnet.ResNet]) -> Callable[..., Backbone]:
    def build(norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d) -> Backbone:
        return TorchvisionResNet(factory(weights=None, norm_layer=norm_layer))

    build.__doc__ = f"torchvision's {factory.__name__}, C2..C5, randomly initialised."
    return build


for _name in ("resnet18", "resnet50", "resnet101", "resnext50_32x4d", "resnext101_32x8d"):
    BACKBONES.add(_name, _torchvision(getattr(tv_resnet, _name)))
