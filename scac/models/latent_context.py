"""The latent-context transformer (Chen et al., 2023, §3, Fig. 3), each module switchable.

* MLFF (§3.2, eq. 1): conv3 and conv4 bilinearly resized to conv5's size and concatenated with
  it: X^ml, D = 512 + 1024 + 2048 channels for ResNet-101 (without MLFF: conv5 alone).
* LCIE (§3.3, eq. 2-3): C learnable label embeddings (D each) as queries; layers of
  cross-attention + FFN, no self-attention; L^ca (C x D); y_ca by one classifier per label.
* Spatial (eq. 4-5): a 1x1 convolution gives C class-aware maps L^sp; y_sp by global max pooling.
* Fusion (eq. 6): L = [L^ca : flatten(L^sp)], C tokens of D + HW features.
* Full (eq. 7-8): a Transformer encoder over the C tokens, then one classifier per label: y_co.
* Partial (eq. 9-10): in training, a share ``mask_ratio`` of the tokens is dropped, an inference
  token prepended, and the encoder (shared with Full, or its own) run; the inference token's
  output -> a fully-connected layer -> y_infer, an auxiliary target only.
* y = y_ca + y_sp + y_co (eq. 11) over the heads present. With neither LCIE nor Spatial there are
  no label tokens: a linear classifier on pooled X^ml predicts (Table 3 rows 1-2).

Top-level parts (what recipe phases freeze): ``backbone``, ``fusion``, ``classifier``, ``lcie``,
``spatial``, ``full``, ``partial``; a removed module is None.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from scac.models.backbones import Backbone
from scac.models.contract import MultiLabelModel
from scac.models.label_transformer import CrossAttentionLayer, GroupLinear
from scac.models.spec import FeatureSpec, check_stage

MLFF_STRIDES = (8, 16, 32)  # "conv3", "conv4", "conv5" (§3.2)


@dataclass
class LatentContextOutput:
    """The model's confidences.

    Attributes:
        logits: (B, C) y = sum of the heads present (eq. 11).
        scores: (B, C) sigmoid of ``logits``, the model's prediction.
        infer_logits: (B, C) y_infer of the partial branch (training only), or None.
        heads: each head's (B, C) logits by name (``pooled``, ``ca``, ``sp``, ``co``).
    """

    logits: torch.Tensor
    scores: torch.Tensor
    infer_logits: torch.Tensor | None = None
    heads: dict[str, torch.Tensor] = field(default_factory=dict)


class MultiLevelFusion(nn.Module):
    """eq. 1: the named maps bilinearly resized to the last one's size and concatenated.

    Args:
        levels: names of the maps in the backbone's output, the coarsest last.
    """

    def __init__(self, levels: list[str]) -> None:
        super().__init__()
        self.levels = list(levels)

    def forward(self, features: OrderedDict[str, torch.Tensor]) -> torch.Tensor:
        last = features[self.levels[-1]]  # (B, D5, h, w)
        maps = [
            F.interpolate(
                features[name], size=last.shape[-2:], mode="bilinear", align_corners=False
            )
            for name in self.levels[:-1]
        ]
        return torch.cat([*maps, last], dim=1)  # X^ml (B, D, h, w)


class ContextEmbedding(nn.Module):
    """LCIE (§3.3): label embeddings query X^ml by cross-attention + FFN (eq. 2), then y_ca (eq. 3).

    Args:
        num_classes: number of labels C.
        dim: channels D of X^ml (the embeddings' size, as the paper sets it).
        heads: attention heads.
        ffn_dim: FFN hidden width.
        dropout: dropout probability.
        layers: decoder layers (3).
    """

    def __init__(
        self, num_classes: int, dim: int, heads: int, ffn_dim: int, dropout: float, layers: int
    ) -> None:
        super().__init__()
        self.embeddings = nn.Parameter(torch.randn(num_classes, dim))  # L^eb, as nn.Embedding
        self.layers = nn.ModuleList(
            CrossAttentionLayer(dim, heads, ffn_dim, dropout) for _ in range(layers)
        )
        self.classifier = GroupLinear(num_classes, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """X^ml (B, D, h, w) -> L^ca (B, C, D), y_ca (B, C)."""
        memory = x.flatten(2).transpose(1, 2)  # (B, hw, D): one key per position
        tokens = self.embeddings.expand(len(x), -1, -1)  # (B, C, D)
        for layer in self.layers:
            tokens = layer(tokens, memory)
        return tokens, self.classifier(tokens)


class ClassAwareMaps(nn.Module):
    """Spatial (eq. 4-5): a 1x1 convolution to C maps; y_sp by global max pooling.

    Args:
        channels: channels D of X^ml.
        num_classes: number of labels C.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """X^ml (B, D, h, w) -> flattened L^sp (B, C, hw), y_sp (B, C)."""
        maps = self.conv(x).flatten(2)  # (B, C, hw)
        return maps, maps.amax(dim=2)


class FullCorrelation(nn.Module):
    """Full (eq. 7-8): the Transformer encoder over the label tokens, one classifier per label.

    Args:
        encoder: (B, N, dim) -> (B, N, dim).
        num_classes: number of labels C.
        dim: features per token, D + HW (or either alone).
    """

    def __init__(self, encoder: nn.TransformerEncoder, num_classes: int, dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = GroupLinear(num_classes, dim)
        self.dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """L (B, C, dim) -> y_co (B, C)."""
        if tokens.shape[-1] != self.dim:
            raise ValueError(
                f"the label tokens have {tokens.shape[-1]} features, the encoder was built for "
                f"{self.dim} (D + HW at model.input_size): set model.input_size to the images' side"
            )
        return self.classifier(self.encoder(tokens))  # L^co (B, C, dim) -> (B, C)


class MaskedInference(nn.Module):
    """Partial (eq. 9-10): the encoder on a random subset of tokens plus an inference token.

    Args:
        num_classes: number of labels C.
        dim: features per token.
        mask_ratio: share of the C tokens dropped per image (m), in [0, 1).
        encoder: this branch's own encoder, or None to use the one passed to :meth:`forward`
            (shared with Full, the paper's choice).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        mask_ratio: float,
        encoder: nn.TransformerEncoder | None = None,
    ) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)  # L^infer
        self.encoder = encoder
        self.fc = nn.Linear(dim, num_classes)  # not shared with Full's classifiers (§3.4)
        # as MAE: keep int(C (1 - m)) tokens, at least one (m = 0.1: 72 of COCO's 80, 8 of 9)
        self.keep = max(1, int(num_classes * (1 - mask_ratio)))

    def forward(self, tokens: torch.Tensor, shared: nn.TransformerEncoder | None) -> torch.Tensor:
        """L (B, C, dim) -> y_infer (B, C); a fresh random mask per image and call."""
        b, c, d = tokens.shape
        kept = torch.rand(b, c, device=tokens.device).argsort(dim=1)[:, : self.keep]  # (B, N)
        masked = tokens.gather(1, kept.unsqueeze(-1).expand(-1, -1, d))  # L^mask (B, N, dim)
        sequence = torch.cat([self.token.expand(b, -1, -1), masked], dim=1)  # (B, 1 + N, dim)
        encoder = self.encoder if self.encoder is not None else shared
        assert encoder is not None, "without an encoder of its own the branch shares Full's"
        return self.fc(encoder(sequence)[:, 0])  # f_select: the inference token's output


class LatentContext(MultiLabelModel):
    """The latent-context model from built parts (a removed module is None).

    Args:
        backbone: image -> OrderedDict of feature maps.
        fusion: feature maps -> X^ml.
        classifier: pooled X^ml -> logits, present when there are no label tokens.
        lcie: the label-query cross-attention module.
        spatial: the class-aware maps.
        full: the encoder over the label tokens.
        partial: the masked-token branch (uses ``full.encoder`` when it has none of its own).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        fusion: MultiLevelFusion,
        classifier: nn.Linear | None,
        lcie: ContextEmbedding | None,
        spatial: ClassAwareMaps | None,
        full: FullCorrelation | None,
        partial: MaskedInference | None,
    ) -> None:
        super().__init__()
        if (classifier is None) == (lcie is None and spatial is None):
            raise ValueError("a pooled classifier is used exactly when there are no label tokens")
        if partial is not None and full is None and partial.encoder is None:
            raise ValueError("a partial branch without its own encoder needs the full one's")
        self.backbone = backbone
        self.fusion = fusion
        self.classifier = classifier
        self.lcie = lcie
        self.spatial = spatial
        self.full = full
        self.partial = partial

    # The part that can be computed once and cached while frozen (scac.engine.feature_cache):
    # the recipe's first phase trains the new heads on the frozen pretrained backbone.
    cacheable_stages = ("backbone",)

    def forward(
        self, images: torch.Tensor, gt_boxes: list[torch.Tensor] | None = None
    ) -> LatentContextOutput:
        """Label confidences of a batch; ``gt_boxes`` is accepted and unused."""
        return self.forward_from("backbone", self.features("backbone", images), images)

    def features(self, stage: str, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """The backbone's feature maps C2..C5 of ``images``."""
        check_stage(stage, self.cacheable_stages)
        return self.backbone(images)

    def forward_from(
        self,
        stage: str,
        features: OrderedDict[str, torch.Tensor],
        images: torch.Tensor,
        gt_boxes: list[torch.Tensor] | None = None,
    ) -> LatentContextOutput:
        """Everything after the backbone, from its feature maps (a frozen-feature cache's).

        ``images`` and ``gt_boxes`` are accepted for the engine and unused.
        """
        check_stage(stage, self.cacheable_stages)
        x = self.fusion(features)  # X^ml (B, D, h, w), eq. 1
        heads: dict[str, torch.Tensor] = {}
        tokens = []
        if self.classifier is not None:
            heads["pooled"] = self.classifier(x.mean(dim=(2, 3)))  # (B, C)
        if self.lcie is not None:
            context_aware, heads["ca"] = self.lcie(x)  # L^ca (B, C, D), eq. 2-3
            tokens.append(context_aware)
        if self.spatial is not None:
            class_aware, heads["sp"] = self.spatial(x)  # L^sp (B, C, hw), eq. 4-5
            tokens.append(class_aware)
        fused = torch.cat(tokens, dim=2) if tokens else None  # L (B, C, D + hw), eq. 6
        if self.full is not None:
            heads["co"] = self.full(fused)  # eq. 7-8
        infer = None
        if self.partial is not None and self.training:
            shared = self.full.encoder if self.full is not None else None
            infer = self.partial(fused, shared)  # eq. 9-10: an auxiliary target only
        logits = cast(torch.Tensor, sum(heads.values()))  # eq. 11
        return LatentContextOutput(logits, torch.sigmoid(logits), infer, heads)


def mlff_levels(features: list[FeatureSpec], mlff: bool, backbone: str) -> list[FeatureSpec]:
    """The maps X^ml fuses: conv3-5 by stride with MLFF (eq. 1), else conv5 alone."""
    if not mlff:
        return [features[-1]]
    by_stride = {f.stride: f for f in features}
    missing = [s for s in MLFF_STRIDES if s not in by_stride]
    if missing:
        raise ValueError(
            f"model.mlff fuses the stride-{'/'.join(map(str, MLFF_STRIDES))} maps, but model."
            f"backbone {backbone!r} has none at stride {missing}"
        )
    return [by_stride[s] for s in MLFF_STRIDES]
