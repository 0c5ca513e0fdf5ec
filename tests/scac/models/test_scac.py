"""SCAC contract: shapes, finite outputs, gradients to every trainable part, branch switches."""

from __future__ import annotations

import pytest
import torch

from scac.data.batch import Batch
from scac.families import build_model
from scac.families.spatial_context import SCACConfig, SCACLossConfig, scac_objective
from scac.models.patches import ExpandPatches

# models are built with random weights and fed random inputs from the global generators
pytestmark = pytest.mark.own_rng

C = 5
TINY = SCACConfig(
    backbone="tiny",
    fpn_channels=16,
    anchor_sizes=(8, 16, 32, 64),
    rpn_pre_nms_top_n=50,
    rpn_post_nms_top_n=6,
    roi_canonical_scale=28,
    representation_size=32,
)


def _batch(
    labels: torch.Tensor, boxes: list[torch.Tensor], box_labels: list[torch.Tensor]
) -> Batch:

    b = len(boxes)
    g = torch.Generator().manual_seed(0)
    return Batch(
        images=torch.randn(b, 3, 64, 64, generator=g),
        boxes=boxes,
        box_labels=box_labels,
        labels=labels,
        label_mask=torch.ones_like(labels, dtype=torch.bool),
        image_ids=torch.arange(b),
        flipped=torch.zeros(b, dtype=torch.bool),
        indices=torch.arange(b),
    )


def _normal_batch() -> Batch:
    boxes = [
        torch.tensor([[4.0, 4.0, 20.0, 24.0], [30.0, 30.0, 60.0, 50.0]]),
        torch.tensor([[10.0, 12.0, 18.0, 20.0]]),
    ]
    box_labels = [torch.tensor([0, 3]), torch.tensor([1])]
    labels = torch.zeros(2, C)
    labels[0, [0, 3]] = 1
    labels[1, 1] = 1
    return _batch(labels, boxes, box_labels)


@pytest.mark.parametrize("branches", [("object", "context"), ("object",), ("context",)])
def test_forward_backward_every_branch_switch(branches):
    torch.manual_seed(0)
    model = build_model(SCACConfig(**{**TINY.__dict__, "branches": branches}), C)
    model.train()
    batch = _normal_batch()
    out = model(batch.images, batch.boxes)
    n = sum(len(p) for p in out.patches)
    assert out.scores.shape == (2, C) and torch.isfinite(out.scores).all()
    assert ((out.scores >= 0) & (out.scores <= 1)).all()
    assert out.box_deltas.shape == (n, 4) and out.patch_logits.shape == (n,)
    assert (out.object_logits is None) == ("object" not in branches)
    assert (out.context_logits is None) == ("context" not in branches)
    assert (model.context_head is None) == ("context" not in branches)
    assert (model.object_head.label_predictor is None) == ("object" not in branches)
    # ground-truth boxes join the patches in training
    assert all(len(p) >= len(g) for p, g in zip(out.patches, batch.boxes, strict=True))
    terms = scac_objective(out, batch, SCACLossConfig())
    assert ("Ll_obj" in terms) == ("object" in branches) and ("Ll_ctx" in terms) == (
        "context" in branches
    )
    assert all(torch.isfinite(v) for v in terms.values())
    terms["total"].backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name} received no gradient"


def test_eval_mode_ignores_gt_and_returns_probabilities():
    model = build_model(TINY, C).eval()
    batch = _normal_batch()
    with torch.no_grad():
        out = model(batch.images, batch.boxes)
    assert all(len(p) <= TINY.rpn_post_nms_top_n for p in out.patches)
    assert out.scores.shape == (2, C)


@pytest.mark.parametrize("case", ["no objects", "all positive"])
def test_every_loss_term_is_finite_on_edge_cases(case):
    torch.manual_seed(1)
    model = build_model(TINY, C).train()
    if case == "no objects":
        batch = _batch(
            torch.zeros(2, C),
            [torch.zeros(0, 4), torch.zeros(0, 4)],
            [torch.zeros(0, dtype=torch.int64)] * 2,
        )
    else:
        boxes = [torch.tensor([[2.0 + 10 * i, 2.0, 10.0 + 10 * i, 12.0] for i in range(C)])] * 2
        batch = _batch(torch.ones(2, C), boxes, [torch.arange(C)] * 2)
    terms = scac_objective(model(batch.images, batch.boxes), batch, SCACLossConfig())
    for name, value in terms.items():
        assert torch.isfinite(value), f"{name} is {value} for {case}"
    if case == "no objects":
        assert terms["Lr"] == 0  # no positive patch: nothing to regress
    terms["total"].backward()


def test_context_patches_expand_about_the_centre_and_clip():
    boxes = [torch.tensor([[10.0, 10.0, 20.0, 30.0], [0.0, 0.0, 8.0, 8.0]])]
    out = ExpandPatches(2.0)(boxes, [(64, 64)])[0]
    assert out[0].tolist() == [5.0, 0.0, 25.0, 40.0]
    assert out[1].tolist() == [0.0, 0.0, 12.0, 12.0]
    assert torch.equal(ExpandPatches(1.0)(boxes, [(64, 64)])[0], boxes[0])
    with pytest.raises(ValueError, match="context_ratio must be >= 1.0"):
        ExpandPatches(0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"branches": ()}, "model.branches must be a non-empty subset"),
        ({"branches": ("object", "scene")}, "model.branches must be one of 'object', 'context'"),
        ({"anchor_sizes": (8, 16)}, "model.anchor_sizes needs one size per pyramid level"),
        ({"fusion": "median"}, "model.fusion must be one of max, mean, product, got 'median'"),
        ({"backbone": "vgg"}, "model.backbone must be one of .*got 'vgg'"),
        ({"sigma": 0.0}, "sigma must be > 0"),
    ],
)
def test_bad_settings_fail_at_build_naming_the_setting(change, message):
    with pytest.raises(ValueError, match=message):
        build_model(SCACConfig(**{**TINY.__dict__, **change}), C)


def test_learnable_sigma_is_a_parameter_kept_positive_and_not_decayed():
    fixed = build_model(TINY, C)
    learnable = {"learn_sigma": True, "sigma_reading": "logit"}  # a weight cannot be learned
    learn = build_model(SCACConfig(**{**TINY.__dict__, **learnable}), C)
    name = "scoring.label_scale.free"
    assert name not in dict(fixed.named_parameters()) and fixed.no_weight_decay() == set()
    assert name in dict(learn.named_parameters()) and learn.no_weight_decay() == {name}
    scale = learn.scoring.label_scale
    assert float(scale.value().detach()) == pytest.approx(0.5)
    with torch.no_grad():  # however far training pushes the free value, sigma stays positive
        scale.free.fill_(-30.0)
    assert 0 < float(scale.value()) < 1e-12
    from scac.engine.train import _param_groups

    groups = _param_groups(learn, 0.01)
    assert groups[-1]["weight_decay"] == 0.0 and groups[-1]["params"] == [scale.free]


def test_sigma_as_a_probability_factor_caps_the_probability():
    model = build_model(SCACConfig(**{**TINY.__dict__, "sigma_reading": "probability"}), C)
    z = torch.linspace(-20, 20, 9)[:, None]
    p = torch.sigmoid(model.scoring.label_scale(z))
    assert torch.allclose(p, 0.5 * torch.sigmoid(z), atol=1e-6) and float(p.max()) <= 0.5


@pytest.mark.slow
def test_full_size_scac_forward_backward_on_cpu():
    model = build_model(SCACConfig(), 80).train()
    images = torch.randn(1, 3, 416, 416)
    out = model(images, [torch.tensor([[40.0, 50.0, 200.0, 300.0]])])
    labels = torch.zeros(1, 80)
    labels[0, 3] = 1
    batch = _batch(labels, [torch.tensor([[40.0, 50.0, 200.0, 300.0]])], [torch.tensor([3])])
    batch.images = images
    scac_objective(out, batch, SCACLossConfig())["total"].backward()
    assert out.scores.shape == (1, 80)
