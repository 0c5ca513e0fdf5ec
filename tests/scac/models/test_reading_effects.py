"""The readings added by issue 31 do what their rows in docs/readings.md say, checked against
references written here (torchvision's RoIAlign, plain loops, float64), and each fails its check
when its effect is patched into a no-op.

* fuse-then-pool (``model.fusion_stage``): in ``test_switch_effects.check_scoring``;
* sigma in the loss only, or as a plain weight of L_l (``model.sigma_reading``);
* the objectness gate detached (L_l does not reach the patch classifier) or a filter;
* a context patch pooled at its object patch's pyramid level (``model.context_level``);
* context patches shifted into the image, or scaled by area (``model.context_patches``);
* the FPN on C5 alone (``model.fpn_input``); four separate MLPs (``model.head_trunks``);
* a patch-level label loss (``loss.label_targets``); a learning-rate decay (``lr_decay``).
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torchvision.ops import roi_align

from scac.families import FAMILIES
from scac.families import spatial_context as family_module
from scac.losses.terms import label_loss
from scac.models import heads, patches, pooling
from scac.models.roi_align import PyramidRoIAlign
from scac.sections import PhaseConfig
from tests.scac.models.test_switch_effects import (
    REF_AGGREGATIONS,
    REF_FUSIONS,
    _scac,
    check_scoring,
)
from tests.scac.models.test_switches import C, _batch

pytestmark = pytest.mark.own_rng  # random weights, seeded the same for every comparison

SCAC = FAMILIES.get("scac")
SIZE = (64, 64)  # the test batch's images


# --- references -------------------------------------------------------------------------


def _expand(box: list[float], side_ratio: float) -> list[float]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * side_ratio / 2, (box[3] - box[1]) * side_ratio / 2
    return [cx - hw, cy - hh, cx + hw, cy + hh]


def _clip(box: list[float]) -> list[float]:
    h, w = SIZE
    return [min(max(box[0], 0), w), min(max(box[1], 0), h),
            min(max(box[2], 0), w), min(max(box[3], 0), h)]  # fmt: skip


def _shift(box: list[float]) -> list[float]:
    """Moved inside the image along each axis; the whole axis when it is longer than it."""
    out = list(box)
    for lo, hi, limit in ((0, 2, SIZE[1]), (1, 3, SIZE[0])):
        length = box[hi] - box[lo]
        if length >= limit:
            out[lo], out[hi] = 0.0, float(limit)
        elif box[lo] < 0:
            out[lo], out[hi] = 0.0, length
        elif box[hi] > limit:
            out[lo], out[hi] = limit - length, float(limit)
    return out


REF_CONTEXT = {
    "expand": lambda box, r: _clip(_expand(box, r)),
    "expand-shifted": lambda box, r: _shift(_expand(box, r)),
    "expand-area": lambda box, r: _clip(_expand(box, math.sqrt(r))),
}


def _iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


# --- the checks -------------------------------------------------------------------------


def check_sigma_reading(reading: str) -> None:
    """``loss``: L_l reads sigmoid(sigma z), the prediction sigmoid(z); ``weight``: both read
    sigmoid(z), and L_l is sigma times its BCE. z is read off a ``logit``-reading twin (the same
    weights: sigma is no random draw) as its sigma-scaled logits over sigma."""
    twin, model = _scac(sigma_reading="logit"), _scac(sigma_reading=reading)
    batch, n = _batch(64), 2
    with torch.no_grad():
        ref, out = twin.eval()(batch.images), model.eval()(batch.images)
    z = [ref.object_logits.double() / 0.5, ref.context_logits.double() / 0.5]  # (N, C) each
    pool = REF_AGGREGATIONS["max"]
    in_loss = 0.5 if reading == "loss" else 1.0
    for raw, image in zip(z, (out.image_object_logits, out.image_context_logits), strict=True):
        want = pool(in_loss * raw, out.patch_image, n)
        assert torch.allclose(image.double(), want, atol=1e-4), f"{reading}: L_l reads another z"
    want = REF_FUSIONS["mean"](pool(z[0], out.patch_image, n), pool(z[1], out.patch_image, n))
    assert torch.allclose(out.logits.double(), want, atol=1e-4), f"{reading}: not sigmoid(z)"
    torch.manual_seed(1)
    trained = model.train()(batch.images, batch.boxes)
    terms = SCAC.objective(trained, batch, SCAC.loss_config())
    bce = label_loss(trained.image_object_logits, batch.labels, batch.label_mask)
    weight = 0.5 if reading == "weight" else 1.0
    assert torch.allclose(terms["Ll_obj"], weight * bce, atol=1e-5), f"{reading}: L_l's weight"


def label_loss_reaches_the_patch_classifier(patch_scores: str) -> bool:
    """Whether the pooled label scores (what L_l reads) send a gradient to the patch classifier."""
    model = _scac(patch_scores=patch_scores)
    batch = _batch(64)
    torch.manual_seed(1)
    out = model.train()(batch.images, batch.boxes)
    out.image_object_logits.sum().backward()
    grad = model.object_head.patch_classifier.weight.grad
    return grad is not None and bool(grad.abs().sum() > 0)


def check_context_level(level: str) -> None:
    """Each context patch pooled (torchvision's roi_align) at the FPN level eq. 1 gives its own
    size (``own``) or its object patch's (``object``), then read by the context predictor."""
    model = _scac(context_level=level, context_ratio=3.0, sigma_reading="logit")
    images = _batch(64).images
    with torch.no_grad():
        out = model.eval()(images)
        pyramid = model.features("neck", images)
        pool = model.roi_pool
        context, objects = torch.cat(out.context_patches), torch.cat(out.label_patches)

        def level_of(box: torch.Tensor) -> int:
            side = math.sqrt(float((box[2] - box[0]) * (box[3] - box[1])))
            k = math.floor(pool.canonical_level + math.log2(side / pool.canonical_scale) + 1e-6)
            return min(max(k, pool.k_min), pool.k_max) - pool.k_min

        rows, differs = [], False
        for i, (box, image) in enumerate(zip(context, out.patch_image, strict=True)):
            k = level_of(box if level == "own" else objects[i])
            differs |= level_of(box) != level_of(objects[i])
            roi = torch.cat([image.view(1).to(box.dtype), box]).view(1, 5)
            rows.append(roi_align(pyramid[pool.names[k]], roi, pool.output_size, pool.scales[k], 2))
        want = model.context_head(torch.cat(rows)) * 0.5  # sigma on the logits
    assert differs, "no context patch maps to another level than its object patch"
    assert torch.allclose(out.context_logits, want, atol=1e-4), f"not pooled at the {level} level"


def check_context_patches(kind: str, ratio: float = 3.0) -> None:
    """Every context patch is its label patch transformed as the reference says."""
    model = _scac(context_patches=kind, context_ratio=ratio)
    with torch.no_grad():
        out = model.eval()(_batch(64).images)
    clipped = False
    for objects, context in zip(out.label_patches, out.context_patches, strict=True):
        for box, got in zip(objects.tolist(), context.tolist(), strict=True):
            want = REF_CONTEXT[kind](box, ratio)
            assert got == pytest.approx(want, abs=1e-3), (kind, box, got, want)
            clipped |= _expand(box, ratio) != _clip(_expand(box, ratio))
    assert clipped, "no patch reached the border: shifting was not tried"


def check_fpn_on_c5() -> None:
    """Four levels with the pyramid's names, made of C5 alone: P5 the output convolution of its
    1x1 lateral map, each finer level the nearest-neighbour upsampling of that map through its
    own output convolution; C2..C4 give sizes only (noise in them changes nothing)."""
    model, twin = _scac(fpn_input="c5"), _scac()
    images = _batch(64).images
    with torch.no_grad():
        c = model.features("backbone", images)
        p = model.neck(c)
        names = list(c)
        noisy = {n: torch.randn_like(x) if n != names[-1] else x for n, x in c.items()}
        again = model.neck(noisy)
    assert list(p) == list(twin.neck(c)) and len(p) == 4, f"levels {list(p)}"
    for got, other in zip(p.values(), again.values(), strict=True):
        assert torch.equal(got, other), "a level reads C2..C4"
    with torch.no_grad():
        inner = model.neck.inner(c[names[-1]])
        want = [
            model.neck.layers[k](torch.nn.functional.interpolate(inner, size=c[n].shape[-2:]))
            for k, n in enumerate(names)
        ]
    for got, ref in zip(p.values(), want, strict=True):
        assert torch.allclose(got, ref, atol=1e-5), "a level is not made of C5 as described"


def trunk_gradients(head_trunks: str) -> tuple[bool, bool]:
    """(does the patch classifier's loss reach the shared trunk, the patch classifier's own?)"""
    model = _scac(head_trunks=head_trunks)
    batch = _batch(64)
    torch.manual_seed(1)
    model.train()(batch.images, batch.boxes).patch_logits.sum().backward()
    head = model.object_head

    def reached(trunk) -> bool:
        grad = None if trunk is None else trunk.fc6.weight.grad
        return grad is not None and bool(grad.abs().sum() > 0)

    return reached(head.trunk), reached(head.patch_trunk)


def check_patch_label_loss() -> None:
    """L_l(obj) is the BCE of each label patch's scores against the label of the ground-truth
    box it overlaps most (IoU >= 0.5; else none), summed over classes, averaged over patches."""
    settings = dataclasses.replace(SCAC.loss_config(), label_targets="patch")
    model, batch = _scac(sigma_reading="logit"), _batch(64)  # sigma on the logits: L_l unweighted
    torch.manual_seed(1)
    out = model.train()(batch.images, batch.boxes)
    terms = SCAC.objective(out, batch, settings)
    rows = []
    for b, boxes in enumerate(out.label_patches):
        truth = batch.boxes[b].tolist()
        for box in boxes.tolist():
            row = torch.zeros(C, dtype=torch.float64)
            ious = [_iou(box, g) for g in truth]
            if ious and max(ious) >= 0.5:
                row[int(batch.box_labels[b][ious.index(max(ious))])] = 1.0
            rows.append(row)
    t, z = torch.stack(rows), out.object_patch_scores.double()
    assert t.sum() > 0, "no patch matches a box"
    bce = -(t * torch.nn.functional.logsigmoid(z) + (1 - t) * torch.nn.functional.logsigmoid(-z))
    assert torch.allclose(terms["Ll_obj"].double(), bce.sum(1).mean(), atol=1e-4)


# --- every reading does what it says ----------------------------------------------------


@pytest.mark.parametrize("fusion", sorted(REF_FUSIONS))
def test_fuse_then_pool_fuses_each_patch_first(fusion):
    check_scoring("max", fusion, "labels", fusion_stage="patch")


@pytest.mark.parametrize("reading", ["loss", "weight"])
def test_sigma_in_the_loss_only_or_as_a_weight(reading):
    check_sigma_reading(reading)


def test_sigma_as_a_weight_computes_sigma_one_on_the_logits_with_the_label_terms_halved():
    """What docs/readings.md says of the adopted reading: the same scores and the same loss."""
    batch = _batch(64)
    weight, plain = _scac(sigma_reading="weight"), _scac(sigma_reading="logit", sigma=1.0)
    halved = dataclasses.replace(SCAC.loss_config(), beta=0.5, gamma=0.5)
    totals = []
    for model, settings in ((weight, SCAC.loss_config()), (plain, halved)):
        torch.manual_seed(1)
        totals.append(SCAC.objective(model.train()(batch.images, batch.boxes), batch, settings))
    assert torch.equal(totals[0]["total"], totals[1]["total"])
    with torch.no_grad():
        assert torch.equal(weight.eval()(batch.images).scores, plain.eval()(batch.images).scores)


def test_a_learnable_loss_weight_is_refused():
    with pytest.raises(ValueError, match="vanish"):
        heads.LabelScale(0.5, learnable=True, reading="weight")


@pytest.mark.parametrize(
    ("patch_scores", "reaches"),
    [
        ("labels", False),
        ("objectness", True),
        ("objectness-detached", False),
        ("objectness-filter", False),
    ],  # fmt: skip
)
def test_only_the_attached_gate_trains_the_patch_classifier_through_l_l(patch_scores, reaches):
    assert label_loss_reaches_the_patch_classifier(patch_scores) is reaches


@pytest.mark.parametrize("level", ["own", "object"])
def test_a_context_patch_pools_at_the_level_its_switch_names(level):
    check_context_level(level)


def test_every_context_patch_generator_has_a_reference():
    assert set(patches.CONTEXT_PATCHES.names()) == set(REF_CONTEXT)


@pytest.mark.parametrize("kind", sorted(REF_CONTEXT))
def test_every_context_patch_generator_makes_its_reference(kind):
    check_context_patches(kind)


def test_the_fpn_on_c5_alone_makes_four_levels_of_c5():
    check_fpn_on_c5()


def test_separate_trunks_keep_the_patch_classifier_off_the_shared_trunk():
    assert trunk_gradients("shared") == (True, False)
    assert trunk_gradients("separate") == (False, True)


def test_the_patch_level_label_loss_reads_each_patchs_box():
    check_patch_label_loss()


def test_lr_decay_divides_the_rate_by_one_plus_decay_times_step():
    from scac.engine.train import _schedule

    factor = _schedule(PhaseConfig(lr_decay=0.01), total_steps=100)
    for step in (0, 1, 10, 99):
        assert factor(step) == pytest.approx(1 / (1 + 0.01 * step), rel=1e-12)
    assert _schedule(PhaseConfig(), total_steps=100)(50) == 1.0


# --- and each made a no-op fails -----------------------------------------------------------


def test_pool_then_fuse_in_disguise_fails(monkeypatch):
    def image_level(self, branches, patch_image, num_images):
        return self.fusion(branches[0].prediction, branches[1].prediction)

    monkeypatch.setattr(heads.ImageScoring, "fuse", image_level)
    with pytest.raises(AssertionError):
        check_scoring("max", "mean", "labels", fusion_stage="patch")


def test_sigma_in_the_prediction_too_fails(monkeypatch):
    monkeypatch.setattr(heads.LabelScale, "separate_prediction", lambda self: False)
    with pytest.raises(AssertionError, match="not sigmoid"):
        check_sigma_reading("loss")


def test_an_unweighted_loss_under_the_weight_reading_fails(monkeypatch):
    monkeypatch.setattr(heads.LabelScale, "loss_weight", lambda self: 1.0)
    with pytest.raises(AssertionError, match="weight"):
        check_sigma_reading("weight")


def test_an_attached_gate_under_the_detached_name_fails(monkeypatch):
    monkeypatch.setitem(
        pooling.PATCH_SCORES._items, "objectness-detached", pooling.objectness_gated
    )
    assert label_loss_reaches_the_patch_classifier("objectness-detached")


def test_a_filter_that_keeps_every_patch_fails(monkeypatch):
    monkeypatch.setitem(pooling.PATCH_SCORES._items, "objectness-filter", pooling.label_scores)
    with pytest.raises(AssertionError):
        check_scoring("max", "mean", "objectness-filter")


def test_a_level_switch_that_is_ignored_fails(monkeypatch):
    original = PyramidRoIAlign.forward

    def own_level(self, features, boxes, image_sizes=None, level_boxes=None):
        return original(self, features, boxes, image_sizes)

    monkeypatch.setattr(PyramidRoIAlign, "forward", own_level)
    with pytest.raises(AssertionError, match="object level"):
        check_context_level("object")


@pytest.mark.parametrize("kind", ["expand-shifted", "expand-area"])
def test_a_context_generator_that_only_expands_fails(monkeypatch, kind):
    monkeypatch.setitem(patches.CONTEXT_PATCHES._items, kind, patches.ExpandPatches)
    with pytest.raises(AssertionError):
        check_context_patches(kind)


def test_a_shared_trunk_under_the_separate_name_fails(monkeypatch):
    def shared(self, x):
        h = self.trunk(x)
        return self.box_regressor(h), self.patch_classifier(h).squeeze(1), self.label_predictor(h)

    monkeypatch.setattr(heads.ObjectPatchProcessors, "forward", shared)
    assert trunk_gradients("separate") != (False, True)


def test_an_fpn_with_lateral_inputs_under_the_c5_name_fails(monkeypatch):
    from scac.models import neck

    monkeypatch.setattr(neck, "C5Pyramid", neck.FPNNeck)
    with pytest.raises(AssertionError, match="reads C2"):
        check_fpn_on_c5()


def test_an_image_level_loss_under_the_patch_name_fails(monkeypatch):
    def image_level(output, batch, settings, image, patch):
        return label_loss(image, batch.labels, batch.label_mask)

    monkeypatch.setattr(family_module, "_label_term", image_level)
    with pytest.raises(AssertionError):
        check_patch_label_loss()
