"""The spatial regularization network (SRN, Zhu et al., CVPR 2017, §3, Fig. 2 and 4).

Main net (ResNet, §3.1): C5 -> pool5 -> linear classifier -> y_cls. SRN reads X, the stride-16
map ("res4b22_relu", C4: 14 x 14 x 1024 at 224 px):

* f_att (§3.2): 1x1/512 -> ReLU -> 3x3/512 -> ReLU -> 1x1/C gives Z; A = spatial softmax of Z
  (eq. 4). "conv1", a 1x1/C convolution on X, gives the confidence map S; y_att = sum over
  positions of A * S (eq. 7).
* f_sr (§3.3, Fig. 4): on U = sigmoid(S) * A (eq. 8), conv2 1x1/512 -> ReLU -> conv3 1x1/512 ->
  ReLU -> conv4, 2048 kernels covering the whole map, grouped 4 per input channel -> ReLU ->
  a fully-connected layer -> y_sr.
* y = alpha y_cls + (1 - alpha) y_sr (§3.4).

"ResNet-SRN-att" (§4.1) feeds A instead of U to f_sr: the builder passes
:func:`unweighted_attention` instead of :func:`weighted_attention`. The four training steps of
§3.4 are recipe phases over the top-level parts ``backbone``, ``classifier``, ``attention`` and
``regulariser`` and the loss terms ``cls``, ``att``, ``sr``, ``final`` (assembled by
``scac.families.srn`` from ``scac.losses.terms``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from scac.models.backbones import Backbone
from scac.models.contract import MultiLabelModel
from scac.models.spec import FeatureSpec

ATTENTION_STRIDE = 16  # SRN reads "res4b22_relu", the last map of ResNet's stride-16 stage
# §3.3: "with only about 6 million additional parameters" (ResNet-101, 224 px)
PAPER_EXTRA_PARAMETERS = 6_000_000


@dataclass
class SRNOutput:
    """Every confidence SRN's losses and visualisations need.

    Attributes:
        cls_logits: (B, C) main net confidences y_cls.
        att_logits: (B, C) attention-weighted confidences y_att (eq. 7).
        sr_logits: (B, C) spatial regulariser confidences y_sr (eq. 9).
        logits: (B, C) final confidences y = alpha y_cls + (1 - alpha) y_sr.
        attention: (B, C, h, w) attention maps A (eq. 4).
        confidence: (B, C, h, w) confidence maps S ("conv1").
        scores: (B, C) sigmoid of ``logits``, the model's prediction.
    """

    cls_logits: torch.Tensor
    att_logits: torch.Tensor
    sr_logits: torch.Tensor
    logits: torch.Tensor
    attention: torch.Tensor
    confidence: torch.Tensor
    scores: torch.Tensor


def weighted_attention(attention: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """U = sigmoid(S) * A (eq. 8): attention of absent labels is damped. (B, C, h, w)."""
    return torch.sigmoid(confidence) * attention


def unweighted_attention(attention: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """A alone ("ResNet-SRN-att", §4.1): S does not reach f_sr. (B, C, h, w)."""
    return attention


def stride16_feature(features: list[FeatureSpec], backbone: str) -> FeatureSpec:
    """The backbone's stride-16 map, SRN's X; a backbone without one cannot carry SRN."""
    for spec in features:
        if spec.stride == ATTENTION_STRIDE:
            return spec
    maps = ", ".join(f"{f.name} (stride {f.stride})" for f in features)
    raise ValueError(
        f"model.backbone {backbone!r} has no stride-{ATTENTION_STRIDE} feature map, which SRN "
        f"reads as X (§3.1, 'res4b22_relu'); its maps: {maps}"
    )


class AttentionEstimator(nn.Module):
    """f_att and "conv1" (§3.2): attention maps A, confidence maps S and y_att (eq. 3-7).

    Args:
        channels: channels of X (1024 for ResNet-101).
        width: width of f_att's first two convolutions (512).
        num_classes: number of labels C.
    """

    def __init__(self, channels: int, width: int, num_classes: int) -> None:
        super().__init__()
        self.att1 = nn.Conv2d(channels, width, 1)
        self.att2 = nn.Conv2d(width, width, 3, padding=1)
        self.att3 = nn.Conv2d(width, num_classes, 1)
        self.conv1 = nn.Conv2d(channels, num_classes, 1)  # label classifiers at every position
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """X (B, D, h, w) -> A (B, C, h, w), S (B, C, h, w), y_att (B, C)."""
        z = self.att3(self.relu(self.att2(self.relu(self.att1(x)))))  # Z (B, C, h, w)
        a = torch.softmax(z.flatten(2), dim=2).view_as(z)  # eq. 4: sums to 1 over positions
        s = self.conv1(x)  # S (B, C, h, w)
        return a, s, (a * s).sum(dim=(2, 3))  # eq. 7


class SpatialRegulariser(nn.Module):
    """f_sr (§3.3, Fig. 4): semantic relations by 1x1 convolutions, spatial ones by conv4.

    Args:
        num_classes: number of labels C (channels of U).
        width: channels of conv2 and conv3 (512).
        kernels_per_channel: conv4 kernels per conv3 channel (4; 4 x 512 = 2048 kernels).
        map_size: side of U; conv4's kernels cover the whole map (14 at 224 px).
    """

    def __init__(
        self, num_classes: int, width: int, kernels_per_channel: int, map_size: int
    ) -> None:
        super().__init__()
        self.map_size = map_size
        self.conv2 = nn.Conv2d(num_classes, width, 1)
        self.conv3 = nn.Conv2d(width, width, 1)
        # single-channel filters: each group of kernels_per_channel sees one conv3 channel
        self.conv4 = nn.Conv2d(width, width * kernels_per_channel, map_size, groups=width)
        self.fc = nn.Linear(width * kernels_per_channel, num_classes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """U (B, C, h, w) -> y_sr (B, C)."""
        if u.shape[-2:] != (self.map_size, self.map_size):
            raise ValueError(
                f"SRN's conv4 covers a {self.map_size}x{self.map_size} stride-16 map, got "
                f"{tuple(u.shape[-2:])}: set model.input_size to the images' side"
            )
        x = self.relu(self.conv3(self.relu(self.conv2(u))))  # (B, width, h, w)
        x = self.relu(self.conv4(x))  # (B, width * k, 1, 1)
        return self.fc(x.flatten(1))


class SRN(MultiLabelModel):
    """ResNet main net + SRN (Fig. 2) from built parts.

    Args:
        backbone: image -> OrderedDict of feature maps (f_cnn); the last is C5.
        classifier: (B, D5) pool5 features -> (B, C) y_cls (f_cls).
        attention: f_att and "conv1" on the stride-16 map.
        regulariser: f_sr.
        regulariser_input: (A, S) -> the maps f_sr learns from (U, or A for SRN-att).
        attention_level: name of the stride-16 map in the backbone's output.
        alpha: weight of y_cls in the final confidences.
    """

    shows = "attention"  # bench plot patches: its attention maps

    def __init__(
        self,
        *,
        backbone: Backbone,
        classifier: nn.Linear,
        attention: AttentionEstimator,
        regulariser: SpatialRegulariser,
        regulariser_input: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        attention_level: str,
        alpha: float,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.attention = attention
        self.regulariser = regulariser
        self.regulariser_input = regulariser_input
        self.attention_level = attention_level
        self.level = backbone.features[-1].name
        self.alpha = alpha

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> SRNOutput:
        """All of SRN's confidences for a batch; ``gt_boxes`` is accepted and unused."""
        features = self.backbone(images)
        # Main net (eq. 1-2): pool5 of C5 and one linear classifier
        cls_logits = self.classifier(features[self.level].mean(dim=(2, 3)))  # (B, C)
        # Label attention from image-level supervision (eq. 3-7) on X, the stride-16 map
        a, s, att_logits = self.attention(features[self.attention_level])
        # Spatial regularisation (eq. 8-9) from the weighted (or plain) attention maps
        sr_logits = self.regulariser(self.regulariser_input(a, s))  # (B, C)
        logits = self.alpha * cls_logits + (1 - self.alpha) * sr_logits
        return SRNOutput(
            cls_logits=cls_logits,
            att_logits=att_logits,
            sr_logits=sr_logits,
            logits=logits,
            attention=a,
            confidence=s,
            scores=torch.sigmoid(logits),
        )

    def extra_parameter_rows(self) -> list[tuple[str, tuple[int, ...], int]]:
        """(layer, weight shape, parameters with bias) of every layer SRN adds to the main net.

        Our build's answer to the paper's "about 6 million additional parameters" (§3.3); see
        docs/models.md for the layer-by-layer count.
        """
        rows = []
        for part in ("attention", "regulariser"):
            for name, module in getattr(self, part).named_children():
                if isinstance(module, nn.Conv2d | nn.Linear):
                    count = sum(p.numel() for p in module.parameters())
                    rows.append((f"{part}.{name}", tuple(module.weight.shape), count))
        return rows

    def extra_parameter_notes(self) -> list[str]:
        """Our count of the extra parameters against the paper's "about 6 million", explained
        from the layer sizes (which layers dominate, how much depends on the label count C)."""
        layers = {name: n for name, _, n in self.extra_parameter_rows()}
        total = sum(layers.values())
        f_att = sum(n for name, n in layers.items() if name.startswith("attention."))
        f_sr = total - f_att
        att, sr = self.attention, self.regulariser
        # parameters per label: the C-sized layers att3, conv1 (outputs), conv2 (inputs), fc
        per_class = (
            att.att3.in_channels + 1 + att.conv1.in_channels + 1 + sr.conv2.out_channels
        ) + (sr.fc.in_features + 1)
        fixed = total - per_class * sr.fc.out_features
        x = f"{att.conv1.in_channels} x {sr.map_size} x {sr.map_size}"
        notes = [
            f"SRN §3.3 reports 'about 6 million' extra parameters (ResNet-101, 224 px, X of "
            f"1024 x 14 x 14); this build has {total:,} (X of {x}).",
            f"f_att + conv1: {f_att:,}, of which the 3x3 convolution att2 alone is "
            f"{layers['attention.att2']:,}; f_sr: {f_sr:,}, of which the grouped conv4 is "
            f"{layers['regulariser.conv4']:,} (ungrouped it would be "
            f"{sr.conv4.out_channels * sr.map_size**2 * sr.conv2.in_channels:,}: the paper's "
            f"'0.4C million').",
            f"Only att3, conv1, conv2 and fc grow with the labels, by {per_class:,} parameters "
            f"per label; {fixed:,} do not depend on C.",
        ]
        gap = PAPER_EXTRA_PARAMETERS - total
        if x != "1024 x 14 x 14" or att.att1.out_channels != 512:
            notes.append("Not the paper's sizes: the counts are not comparable with its figure.")
        elif gap > 0:
            notes.append(
                f"The layer sizes the paper gives reach 6 million only at C = "
                f"{gap // per_class + sr.fc.out_features:,} labels: the {gap:,} difference is "
                f"not the label count but layers or widths the text does not state; none is "
                f"added here (docs/models.md)."
            )
        return notes
