"""One contract suite over every model family (timm/optuna style: a family joins by existing).

Every family's model: forward(images, gt_boxes) -> an output with (B, C) probabilities in
``.scores``; an objective of weighted terms whose "total" is their sum; finite outputs and losses
on all-negative and all-positive rows; a gradient for every trainable parameter; unknown labels
(label_mask False) count neither way; a top-level ``backbone`` part (recipes freeze it by name);
and each switch removes what it says. The suite runs over ``FAMILIES``: a family registered in
another test (``test_new_family.py``) joins it by calling these checks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from scac.config import ConfigError, from_dict, load_recipe, with_overrides
from scac.data.batch import Batch
from scac.families import FAMILIES, build_model
from scac.testing import tiny_model

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng


C, SIDE = 5, 64
ROOT = Path(__file__).resolve().parents[3]
FAMILY_NAMES = FAMILIES.names()

# switch -> (config overrides, check on the built model and a training forward pass)
SWITCHES = {
    "ResNet-107 blocks": (
        "resnet_baseline",
        {"extra_blocks": 2},
        lambda m, out: m.extra_blocks is not None and len(m.extra_blocks) == 2,
    ),
    "no extra blocks": ("resnet_baseline", {}, lambda m, out: m.extra_blocks is None),
    "SRN-att": (
        "srn",
        {"weighted_attention": False},
        lambda m, out: m.regulariser_input.__name__ == "unweighted_attention",
    ),
    "no MLFF": ("latent_context", {"mlff": False}, lambda m, out: m.fusion.levels == ["c5"]),
    "no LCIE": (
        "latent_context",
        {"lcie": False},
        lambda m, out: m.lcie is None and "ca" not in out.heads,
    ),
    "no Spatial": (
        "latent_context",
        {"spatial": False},
        lambda m, out: m.spatial is None and "sp" not in out.heads,
    ),
    "no Partial": (
        "latent_context",
        {"partial": False},
        lambda m, out: m.partial is None and out.infer_logits is None,
    ),
    "no Full, no Partial": (
        "latent_context",
        {"full": False, "partial": False},
        lambda m, out: m.full is None and "co" not in out.heads,
    ),
    "separate encoder": (
        "latent_context",
        {"share_encoder": False},
        lambda m, out: m.partial.encoder is not None and m.partial.encoder is not m.full.encoder,
    ),
    "no module at all": (
        "latent_context",
        {"mlff": False, "lcie": False, "spatial": False, "full": False, "partial": False},
        lambda m, out: m.classifier is not None and set(out.heads) == {"pooled"},
    ),
}


def _batch(
    labels: torch.Tensor, mask: torch.Tensor | None = None, box_labels: torch.Tensor | None = None
) -> Batch:
    b = len(labels)
    g = torch.Generator().manual_seed(0)
    # one box per positive label, so SCAC's box terms see objects exactly when labels say so
    box_labels = labels if box_labels is None else box_labels
    boxes = [torch.tensor([[4.0, 4.0, 28.0, 30.0]] * int(row.sum())) for row in box_labels]
    return Batch(
        images=torch.randn(b, 3, SIDE, SIDE, generator=g),
        boxes=[x.reshape(-1, 4) for x in boxes],
        box_labels=[torch.nonzero(row).flatten() for row in box_labels],
        labels=labels,
        label_mask=torch.ones_like(labels, dtype=torch.bool) if mask is None else mask,
        image_ids=torch.arange(b),
        flipped=torch.zeros(b, dtype=torch.bool),
        indices=torch.arange(b),
    )


def _mixed_labels() -> torch.Tensor:
    labels = torch.zeros(2, C)
    labels[0, [0, 3]] = 1
    labels[1, 1] = 1
    return labels


def _build(name: str, **overrides):
    torch.manual_seed(0)
    cfg = dataclasses.replace(tiny_model(name), **overrides)
    return build_model(cfg, C), FAMILIES.get(name).loss_config()


def _objective(name: str, out, batch: Batch, settings) -> dict[str, torch.Tensor]:
    return FAMILIES.get(name).objective(out, batch, settings)


def test_every_family_has_its_configs_and_a_tiny_model():
    assert {"scac", "resnet_baseline", "resnet_semantic", "srn", "latent_context"} <= set(
        FAMILY_NAMES
    )
    for name in FAMILY_NAMES:
        family = FAMILIES.get(name)
        assert family.name == name and family.config().name == name
        assert tiny_model(name).name == name


@pytest.mark.parametrize("name", FAMILY_NAMES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_output_is_probabilities_of_every_class(name, mode):
    model, _ = _build(name)
    model.train(mode == "train")
    batch = _batch(_mixed_labels())
    out = model(batch.images, batch.boxes) if mode == "train" else model(batch.images)
    assert out.scores.shape == (2, C)
    assert torch.isfinite(out.scores).all() and ((out.scores >= 0) & (out.scores <= 1)).all()
    assert "backbone" in dict(model.named_children())


@pytest.mark.parametrize("name", FAMILY_NAMES)
@pytest.mark.parametrize("fill", [0.0, 1.0], ids=["all-negative", "all-positive"])
def test_losses_are_finite_and_total_is_the_sum(name, fill):
    model, settings = _build(name)
    model.train()
    batch = _batch(torch.full((2, C), fill))
    out = model(batch.images, batch.boxes)
    terms = _objective(name, out, batch, settings)
    assert torch.isfinite(out.scores).all()
    assert all(torch.isfinite(v) and v.ndim == 0 for v in terms.values()), terms
    parts = sum(v for k, v in terms.items() if k != "total")
    assert torch.allclose(terms["total"], parts)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_trainable_parameter_receives_a_gradient(name):
    model, settings = _build(name)
    model.train()
    batch = _batch(_mixed_labels())
    terms = _objective(name, model(batch.images, batch.boxes), batch, settings)
    terms["total"].backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: {pname} received no gradient"
            assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
    grads = [p.grad.abs().sum() for p in model.parameters() if p.grad is not None]
    assert sum(g > 0 for g in grads) >= 0.9 * len(grads)  # not a graph of zeros


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_unknown_labels_count_neither_way(name):
    # same forward pass and boxes, the masked entries' labels flipped: no term may change
    model, settings = _build(name)
    model.eval()  # no dropout or random masking: the same outputs for both label sets
    mask = torch.ones(2, C, dtype=torch.bool)
    mask[0, :3] = False
    mask[1, 4] = False
    labels = _mixed_labels()
    flipped = torch.where(mask, labels, 1 - labels)
    with torch.no_grad():
        out = model(_batch(labels).images)

    def terms(y, m=None):
        torch.manual_seed(0)  # SCAC's box samplers draw from the global generator
        return _objective(name, out, _batch(y, m, box_labels=labels), settings)

    a, b, full = terms(labels, mask), terms(flipped, mask), terms(flipped)
    assert all(torch.allclose(a[k], b[k]) for k in a)
    assert not torch.allclose(a["total"], full["total"])  # the mask is what made them equal


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_removes_what_it_says(switch):
    name, overrides, check = SWITCHES[switch]
    model, settings = _build(name, **overrides)
    reference, _ = _build(name)
    model.train()
    batch = _batch(_mixed_labels())
    out = model(batch.images, batch.boxes)
    assert check(model, out), switch
    assert torch.isfinite(_objective(name, out, batch, settings)["total"])
    count = sum(p.numel() for p in model.parameters())
    if overrides:  # a switch that adds or removes a module changes the parameter count
        assert count != sum(p.numel() for p in reference.parameters()) or switch == "SRN-att"


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet'; known: .*latent_context.*srn"):
        from_dict({"model": {"name": "resnet"}})
    cfg = dataclasses.replace(tiny_model("srn"), name="nope")
    with pytest.raises(ValueError, match=r"unknown model 'nope'; known: .*resnet_baseline"):
        build_model(cfg, C)


@pytest.mark.parametrize("recipe", ["srn-synth", "lc-synth"])
def test_an_input_size_other_than_the_images_fails_when_the_config_is_read(recipe):
    cfg = load_recipe(ROOT / "studies" / "recipes" / f"{recipe}.toml")
    message = r"'model.input_size' \(128\) must equal 'data.image_size' \(96\)"
    with pytest.raises(ConfigError, match=message):
        with_overrides(cfg, {"data.image_size": 96})
    both = with_overrides(cfg, {"data.image_size": 96, "model.input_size": 96})
    assert both.model.input_size == both.data.image_size == 96
    # switching to a model sized for its input takes the size from the same overrides
    other = "latent_context" if recipe == "srn-synth" else "srn"
    switched = with_overrides(cfg, {"model.name": other, "model.input_size": 128})
    assert switched.model.name == other


@pytest.mark.parametrize(
    ("name", "side"),
    [
        # SRN's Table 2 rows are at 224 px (§4.1); SRN holds the baseline's trunk and classifier,
        # so the default suite builds it alone (a few seconds on 2 cores)
        ("srn", 224),
        pytest.param("resnet_baseline", 224, marks=pytest.mark.slow),
        pytest.param("resnet_semantic", 224, marks=pytest.mark.slow),
        # 460 M parameters at 448 px: about 45 s on a 2-core CPU
        pytest.param("latent_context", 448, marks=pytest.mark.slow),
    ],
)
def test_full_size_forward_backward(name, side):
    """The paper's full-size model (ResNet-101, MS-COCO's 80 labels, random initialisation: no
    weights are loaded or downloaded) is built for real and trains a step on the CPU."""
    torch.manual_seed(0)
    family = FAMILIES.get(name)
    model = build_model(family.config(), 80).train()
    labels = torch.zeros(2, 80)
    labels[0, [0, 7]] = 1
    batch = _batch(labels)
    images = torch.randn(2, 3, side, side)
    out = model(images)
    terms = family.objective(out, dataclasses.replace(batch, images=images), family.loss_config())
    assert out.scores.shape == (2, 80) and torch.isfinite(terms["total"])
    terms["total"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
