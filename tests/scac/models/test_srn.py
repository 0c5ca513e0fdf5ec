"""SRN (Zhu et al., CVPR 2017): layer sizes of §3.2-3.3, eq. 4-8, its variants, its schedule."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import scac.models.weights as build_module  # the builder imports build_backbone when it runs
from scac.config import load_recipe, with_overrides
from scac.data.batch import Batch
from scac.families import build_model
from scac.families.baseline import ResNetBaselineConfig
from scac.families.srn import SRNConfig, SRNFamily, SRNLossConfig
from scac.models.spec import FeatureSpec

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


ROOT = Path(__file__).resolve().parents[3]
TINY = SRNConfig(backbone="tiny", input_size=64, attention_width=16, regulariser_width=8)
C = 4


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _meta(cfg, num_classes: int = 80) -> nn.Module:
    with torch.device("meta"):  # full-size shapes without allocating or initialising weights
        return build_model(cfg, num_classes)


def test_extra_parameters_over_resnet101_counted_by_hand():
    """§3.2-3.3 at 224 px on MS-COCO (C = 80): X is 14 x 14 x 1024."""
    c = 80
    f_att = (1024 * 512 + 512) + (512 * 512 * 9 + 512) + (512 * c + c)  # 1x1/512, 3x3/512, 1x1/C
    conv1 = 1024 * c + c  # the confidence map S
    f_sr = (
        (c * 512 + 512)  # conv2: 1x1/512 on U
        + (512 * 512 + 512)  # conv3: 1x1/512
        + (2048 * 1 * 14 * 14 + 2048)  # conv4: 2048 single-channel 14x14 kernels, 4 per channel
        + (2048 * c + c)  # fc
    )
    assert f_att + conv1 + f_sr == 3_879_152  # the paper: "about 6 million"

    model = _meta(SRNConfig())
    rows = model.extra_parameter_rows()
    assert [(name, shape) for name, shape, _ in rows] == [
        ("attention.att1", (512, 1024, 1, 1)),
        ("attention.att2", (512, 512, 3, 3)),
        ("attention.att3", (80, 512, 1, 1)),
        ("attention.conv1", (80, 1024, 1, 1)),
        ("regulariser.conv2", (512, 80, 1, 1)),
        ("regulariser.conv3", (512, 512, 1, 1)),
        ("regulariser.conv4", (2048, 1, 14, 14)),
        ("regulariser.fc", (80, 2048)),
    ]
    assert sum(n for _, _, n in rows) == 3_879_152
    # the rows are everything SRN adds to the ResNet-101 baseline
    assert _count(model) - _count(_meta(ResNetBaselineConfig())) == 3_879_152

    # the difference to the paper, from the layer sizes: 4,099 per label, 3,551,232 fixed
    per_label = (512 + 1) + (1024 + 1) + 512 + (2048 + 1)  # att3, conv1, conv2, fc
    assert f_att + conv1 + f_sr - 80 * per_label == 3_551_232
    notes = " ".join(model.extra_parameter_notes())
    assert "about 6 million" in notes and "this build has 3,879,152" in notes
    assert "by 4,099 parameters per label; 3,551,232 do not depend on C" in notes
    assert "reach 6 million only at C = 597 labels" in notes  # (6e6 - 3,551,232) / 4,099
    assert "not comparable" in " ".join(build_model(TINY, C).extra_parameter_notes())


def test_attention_maps_sum_to_one_and_eq7_pools_the_confidences():
    torch.manual_seed(0)
    model = build_model(TINY, C).eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.attention.shape == out.confidence.shape == (2, C, 4, 4)  # the stride-16 map
    assert torch.allclose(out.attention.sum(dim=(2, 3)), torch.ones(2, C))
    assert torch.allclose(out.att_logits, (out.attention * out.confidence).sum(dim=(2, 3)))
    assert torch.allclose(out.logits, 0.5 * out.cls_logits + 0.5 * out.sr_logits)


@pytest.mark.parametrize("weighted", [True, False])
def test_regulariser_sees_the_confidences_only_when_weighted(weighted):
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(TINY, weighted_attention=weighted), C).eval()
    images = torch.randn(2, 3, 64, 64)
    before = model(images).sr_logits
    with torch.no_grad():
        model.attention.conv1.weight.add_(1.0)  # change S, keep A
    changed = not torch.allclose(before, model(images).sr_logits)
    assert changed == weighted  # U = sigmoid(S) * A (eq. 8); SRN-att reads A alone


def test_a_backbone_without_a_stride16_map_fails_at_build_naming_the_setting(monkeypatch):
    class NoStride16(nn.Module):
        features = [FeatureSpec("c3", 8, 8), FeatureSpec("c5", 8, 32)]

        def forward(self, images):  # pragma: no cover - never run
            return OrderedDict()

    monkeypatch.setattr(build_module, "build_backbone", lambda name, path=None: NoStride16())
    with pytest.raises(ValueError, match=r"model.backbone 'tiny' has no stride-16 feature map"):
        build_model(TINY, C)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"alpha": 1.5}, r"model.alpha must be in \[0, 1\]"),
        ({"attention_width": 0}, r"model.attention_width must be >= 1"),
        ({"kernels_per_channel": 0}, r"model.kernels_per_channel must be >= 1"),
    ],
)
def test_bad_settings_fail_at_build_naming_them(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_model(dataclasses.replace(TINY, **overrides), C)


def test_images_of_another_size_than_input_size_are_refused_naming_the_setting():
    model = build_model(TINY, C)
    with pytest.raises(ValueError, match=r"4x4 stride-16 map, got \(6, 6\).*model.input_size"):
        model(torch.randn(1, 3, 96, 96))


def test_the_four_step_schedule_trains_what_section_3_4_says():
    """Each recipe phase: the parts it does not freeze, and only those, receive gradients."""
    cfg = with_overrides(
        load_recipe(ROOT / "studies" / "recipes" / "srn-synth.toml"),
        {
            "model.backbone": "tiny",
            "model.input_size": 64,
            "data.image_size": 64,
            "model.weights": "none",
        },
    )
    expected = {
        "main": ({"backbone", "classifier"}, ("cls",)),
        "attention": ({"attention"}, ("att",)),
        "regulariser": ({"regulariser"}, ("sr",)),
        "joint": ({"backbone", "classifier", "attention", "regulariser"}, ("final", "att")),
    }
    assert [p.name for p in cfg.train.phases] == list(expected)
    torch.manual_seed(0)
    model = build_model(cfg.model, C)
    labels = torch.zeros(2, C)
    labels[0, 1] = 1
    batch = Batch(
        images=torch.randn(2, 3, 64, 64),
        boxes=[torch.zeros(0, 4)] * 2,
        box_labels=[torch.zeros(0, dtype=torch.int64)] * 2,
        labels=labels,
        label_mask=torch.ones(2, C, dtype=torch.bool),
        image_ids=torch.arange(2),
        flipped=torch.zeros(2, dtype=torch.bool),
        indices=torch.arange(2),
    )
    parts = dict(model.named_children())
    for phase in cfg.train.phases:
        trained, terms = expected[phase.name]
        assert set(parts) - set(phase.freeze) == trained and phase.loss_terms == terms
        for name, part in parts.items():
            part.requires_grad_(name not in phase.freeze)
        model.zero_grad(set_to_none=True)
        losses = SRNFamily().objective(model(batch.images), batch, SRNLossConfig())
        sum(losses[t] for t in phase.loss_terms).backward()
        for name in trained:
            assert any(
                p.grad is not None and p.grad.abs().sum() > 0 for p in parts[name].parameters()
            )
