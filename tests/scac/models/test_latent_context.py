"""The latent-context transformer (Chen et al., 2023): sizes, eq. 1-11, switches, bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import scac.models.weights as build_module  # the builder imports build_backbone when it runs
from scac.families import build_model
from scac.families.latent_context import LatentContextConfig
from scac.models.latent_context import MaskedInference, MultiLevelFusion
from scac.models.spec import FeatureSpec

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


TINY = LatentContextConfig(backbone="tiny", input_size=64, ffn_dim=32)  # c3-c5: 32 + 64 + 96
C = 5


def _count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _build(**overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_model(dataclasses.replace(TINY, **overrides), C)


def test_full_size_modules_counted_by_hand():
    """ResNet-101 at 448 px, MS-COCO's 80 labels, §4.1: 4 heads, 3 + 3 layers."""
    c, d, hw, f = 80, 512 + 1024 + 2048, 14 * 14, 2048  # D: conv3-5 channels (eq. 1)
    t = d + hw  # features per label token (eq. 6)

    def attention(n: int) -> int:
        return 4 * n * n + 4 * n  # q, k, v and output projections with biases

    def ffn(n: int) -> int:
        return n * f + f + f * n + n

    lcie = c * d + 3 * (attention(d) + ffn(d) + 2 * 2 * d) + (c * d + c)
    full = 3 * (attention(t) + ffn(t) + 2 * 2 * t) + (c * t + c)
    partial = t + (t * c + c)  # the inference token and its own classifier; encoder shared
    spatial = d * c + c
    with torch.device("meta"):
        model = build_model(LatentContextConfig(), c)
    assert (d, t) == (3584, 3780)
    assert _count(model.lcie) == lcie
    assert _count(model.full) == full
    assert _count(model.partial) == partial
    assert _count(model.spatial) == spatial
    assert _count(model) - _count(model.backbone) == lcie + full + partial + spatial
    with torch.device("meta"):
        separate = build_model(LatentContextConfig(share_encoder=False), c)
    assert _count(separate.partial) - partial == full - (c * t + c)  # one more encoder


def test_mlff_resizes_conv3_and_conv4_to_conv5_and_concatenates():
    features = {
        "c3": torch.randn(2, 3, 16, 16),
        "c4": torch.randn(2, 4, 8, 8),
        "c5": torch.randn(2, 5, 4, 4),
    }
    fused = MultiLevelFusion(["c3", "c4", "c5"])(features)
    assert fused.shape == (2, 12, 4, 4)
    assert torch.equal(fused[:, 7:], features["c5"])
    assert torch.equal(MultiLevelFusion(["c5"])(features), features["c5"])


def test_final_logits_are_the_sum_of_the_heads_and_eval_is_deterministic():
    model = _build().eval()
    images = torch.randn(2, 3, 64, 64)
    out = model(images)
    assert set(out.heads) == {"ca", "sp", "co"} and out.infer_logits is None
    assert torch.allclose(out.logits, out.heads["ca"] + out.heads["sp"] + out.heads["co"])
    assert torch.equal(model(images).scores, out.scores)
    # spatial head: global max pooling of the 1x1-conv class maps (eq. 4-5)
    x = model.fusion(model.backbone(images))
    assert torch.allclose(out.heads["sp"], model.spatial.conv(x).amax(dim=(2, 3)))


@pytest.mark.parametrize(
    ("num_classes", "ratio", "keep"), [(80, 0.1, 72), (9, 0.1, 8), (5, 0.0, 5)]
)
def test_partial_branch_encodes_the_inference_token_and_the_kept_tokens(num_classes, ratio, keep):
    branch = MaskedInference(num_classes, 8, ratio)
    assert branch.keep == keep
    seen = []

    def encoder(tokens):
        seen.append(tokens.shape)
        return tokens

    assert branch(torch.randn(2, num_classes, 8), encoder).shape == (2, num_classes)
    assert seen == [(2, 1 + keep, 8)]


@pytest.mark.parametrize("share", [True, False])
def test_infer_term_reaches_the_full_encoder_only_when_shared(share):
    model = _build(share_encoder=share).train()
    out = model(torch.randn(2, 3, 64, 64))
    out.infer_logits.sum().backward()
    reached = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.full.parameters())
    assert reached == share
    assert (model.partial.encoder is None) == share


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mask_ratio": 1.0}, r"model.mask_ratio must be in \[0, 1\), got 1.0"),
        ({"mask_ratio": -0.1}, r"model.mask_ratio must be in \[0, 1\)"),
        ({"dropout": 1.0}, r"model.dropout must be in \[0, 1\)"),
        ({"lcie": False, "spatial": False}, r"model.full .* needs model.lcie or model.spatial"),
        ({"full": False}, r"model.partial is the masked form of model.full"),
        ({"heads": 5}, r"model.heads = 5 must divide the 192 features per token of model.lcie"),
        ({"lcie": False, "heads": 3}, r"model.heads = 3 must divide the 4 features .*model.full"),
        ({"encoder_layers": 0}, r"model.encoder_layers must be >= 1"),
    ],
)
def test_bad_settings_fail_at_build_naming_them(overrides, message):
    with pytest.raises(ValueError, match=message):
        _build(**overrides)


def test_mlff_on_a_backbone_without_the_three_strides_fails_naming_the_setting(monkeypatch):
    class TwoLevels(nn.Module):
        features = [FeatureSpec("c4", 8, 16), FeatureSpec("c5", 8, 32)]

    monkeypatch.setattr(build_module, "build_backbone", lambda name, path=None: TwoLevels())
    with pytest.raises(ValueError, match=r"model.mlff fuses .* has none at stride \[8\]"):
        _build()


def test_images_of_another_size_than_input_size_are_refused_naming_the_setting():
    model = _build().eval()
    with pytest.raises(ValueError, match=r"encoder was built for 196 .*model.input_size"):
        model(torch.randn(1, 3, 96, 96))
