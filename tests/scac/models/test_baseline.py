"""The binary-relevance baseline, ResNet-107 and ResNet-101-semantic (SRN §4.1)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from scac.families import build_model
from scac.families.baseline import ResNetBaselineConfig, ResNetSemanticConfig
from scac.models.baseline import ResNetBaseline, SemanticLayers
from scac.models.spec import FeatureSpec

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta(cfg, num_classes: int = 80) -> nn.Module:
    with torch.device("meta"):  # full-size shapes without allocating or initialising weights
        return build_model(cfg, num_classes)


class _StubBackbone(nn.Module):
    """Returns a fixed C5 map: the composite model is tested apart from any real backbone."""

    def __init__(self, c5: torch.Tensor) -> None:
        super().__init__()
        self.c5 = c5
        self.features = [FeatureSpec("c5", c5.shape[1], 32)]

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict(c5=self.c5)


def test_baseline_is_a_linear_classifier_on_average_pooled_c5():
    c5 = torch.randn(2, 6, 3, 3)
    classifier = nn.Linear(6, 4)
    model = ResNetBaseline(backbone=_StubBackbone(c5), classifier=classifier)
    out = model(torch.zeros(2, 3, 8, 8))
    expected = c5.mean(dim=(2, 3)) @ classifier.weight.T + classifier.bias
    assert torch.allclose(out.logits, expected, atol=1e-6)
    assert torch.allclose(out.scores, torch.sigmoid(expected))


def test_full_size_baseline_head_and_resnet107_blocks_counted_by_hand():
    base = _meta(ResNetBaselineConfig())
    r107 = _meta(ResNetBaselineConfig(extra_blocks=2))
    assert base.backbone.features[-1].channels == 2048
    assert _count(base.classifier) == 2048 * 80 + 80
    # a bottleneck 2048 -> 512 -> 512 -> 2048 without biases, and 3 trainable batch norms
    block = 2048 * 512 + 512 * 512 * 9 + 512 * 2048 + 2 * (512 + 512 + 2048)
    assert block == 4_462_592
    assert _count(r107) - _count(base) == 2 * block == 8_925_184


def test_resnet107_blocks_keep_the_c5_shape():
    torch.manual_seed(0)
    model = build_model(ResNetBaselineConfig(backbone="tiny", extra_blocks=2), 3)
    x = torch.randn(2, 96, 2, 2)
    assert model.extra_blocks(x).shape == x.shape
    assert model(torch.randn(2, 3, 64, 64)).scores.shape == (2, 3)


def test_semantic_layers_counted_by_hand_and_fed_by_the_confidences():
    model = _meta(ResNetSemanticConfig())
    hidden, d, c = 2048, 2048, 80
    assert _count(model.semantic) == (d + c) * hidden + hidden + hidden * hidden + hidden + (
        hidden * c + c
    )
    torch.manual_seed(0)
    layers = SemanticLayers(6, 3, 8)
    pooled, cls = torch.randn(2, 6), torch.randn(2, 3, requires_grad=True)
    layers(pooled, cls).sum().backward()
    assert cls.grad.abs().sum() > 0  # the final confidences depend on the initial ones


def test_semantic_term_trains_the_classifier_through_the_confidences():
    torch.manual_seed(0)
    model = build_model(ResNetSemanticConfig(backbone="tiny", hidden=8), 3)
    out = model(torch.randn(2, 3, 64, 64))
    out.logits.sum().backward()  # the "semantic" term alone
    assert model.classifier.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (ResNetBaselineConfig, {"extra_blocks": -1}, r"model.extra_blocks must be >= 0, got -1"),
        (ResNetSemanticConfig, {"hidden": 0}, r"model.hidden must be >= 1, got 0"),
        (ResNetBaselineConfig, {"backbone": "resnet7"}, r"model.backbone must be one of .*resnet7"),
    ],
)
def test_bad_settings_fail_when_the_section_is_made_naming_them(cls, values, message):
    """However a section is made (read, or constructed in code), its values are checked."""
    with pytest.raises(ValueError, match=message):
        cls(**{"backbone": "tiny", **values})
