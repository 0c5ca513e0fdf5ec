"""Switches do what their rows in docs/readings.md say, and a switch made a no-op fails here.

``test_switches.py`` proves every field changes *something*; that a learnable sigma passed it
with ``LabelScale.value`` patched to a constant (issue 31) shows why that is not enough. Here
each reading is computed again by a reference written in this file, from the model's own
intermediate outputs (probabilities in float64, plain loops), and compared:

* a learnable sigma moves after one optimiser step, and its move alone changes the scores;
* every registered patch score, aggregation and fusion gives the image logits its reference
  gives (a name registered without a reference here fails: every alternative is exercised);
* refined patches are the box regressor's decoded boxes (Faster R-CNN decoding, clipped);
* each box-loss normaliser divides the smooth-L1 sum by what the docs say.

The last tests patch each switch's effect into a no-op and check that its test then fails.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import pytest
import torch

from scac.families import FAMILIES, build_model
from scac.losses.terms import patch_losses
from scac.models import heads, patches, pooling
from scac.testing import tiny_model
from tests.scac.models.test_switches import C, _batch

pytestmark = pytest.mark.own_rng  # random weights, seeded the same for every comparison


def _scac(**switches):
    torch.manual_seed(0)
    return build_model(dataclasses.replace(tiny_model("scac"), **switches), C)


# --- references, in float64 probabilities -------------------------------------------------


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


REF_PATCH_SCORES = {
    "labels": lambda z, o: z.double(),
    "objectness": lambda z, o: _logit(
        torch.sigmoid(z.double()) * torch.sigmoid(o.double())[:, None]
    ),
    "objectness-detached": lambda z, o: _logit(  # the same values; the gradient: see below
        torch.sigmoid(z.double()) * torch.sigmoid(o.double())[:, None]
    ),
    "objectness-filter": lambda z, o: torch.where(  # rejected patches at the floor logit
        (o >= 0)[:, None], z.double(), torch.full_like(z.double(), pooling.FILTER_LOGIT)
    ),
}


def _per_image(reduce):
    def pool(x: torch.Tensor, image: torch.Tensor, n: int) -> torch.Tensor:
        out = torch.zeros(n, x.shape[1], dtype=torch.float64)  # no patch: logit 0 (p = 0.5)
        for b in range(n):
            rows = x[image == b].double()
            if len(rows):
                out[b] = reduce(rows)
        return out

    return pool


REF_AGGREGATIONS = {
    "max": _per_image(lambda r: r.max(0).values),
    "mean": _per_image(lambda r: r.mean(0)),
    "lse": _per_image(lambda r: torch.log(torch.exp(r).mean(0))),  # log-mean-exp
    "topk": _per_image(lambda r: r.sort(0, descending=True).values[: pooling.TOP_K].mean(0)),
}
REF_FUSIONS = {
    "mean": lambda a, b: _logit((torch.sigmoid(a.double()) + torch.sigmoid(b.double())) / 2),
    "max": lambda a, b: _logit(torch.maximum(torch.sigmoid(a.double()), torch.sigmoid(b.double()))),
    "product": lambda a, b: _logit(torch.sigmoid(a.double()) * torch.sigmoid(b.double())),
}


def _decode(patch: torch.Tensor, delta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Faster R-CNN's second-stage decoding, weights (10, 10, 5, 5), clipped to the image."""
    p, d = patch.double(), delta.double()
    w, h = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    cx, cy = p[:, 0] + w / 2, p[:, 1] + h / 2
    clip = math.log(1000.0 / 16)  # torchvision's limit on the size deltas
    dx, dy = d[:, 0] / 10, d[:, 1] / 10
    dw, dh = (d[:, 2] / 5).clamp(max=clip), (d[:, 3] / 5).clamp(max=clip)
    px, py, pw, ph = cx + dx * w, cy + dy * h, w * dw.exp(), h * dh.exp()
    boxes = torch.stack([px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2], 1)
    height, width = size
    return torch.stack(
        [boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
         boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], 1,
    )  # fmt: skip


# --- the checks -------------------------------------------------------------------------


def check_sigma_learns(reading: str) -> None:
    """A learnable sigma moves after one step, and moving it back alone moves the scores."""
    model = _scac(learn_sigma=True, sigma_reading=reading)
    scale = model.scoring.label_scale
    batch = _batch(64)
    start = scale.free.detach().clone()
    before = scale.value().detach().clone()
    torch.manual_seed(1)
    out = model.train()(batch.images, batch.boxes)
    terms = FAMILIES.get("scac").objective(out, batch, FAMILIES.get("scac").loss_config())
    terms["total"].backward()
    torch.optim.SGD([scale.free], lr=0.5).step()
    assert not torch.equal(scale.value().detach(), before), "sigma did not move in one step"
    with torch.no_grad():
        after = model.eval()(batch.images).scores
        scale.free.copy_(start)  # sigma back to its start, every other weight as it was
        reset = model.eval()(batch.images).scores
    assert not torch.allclose(after, reset, atol=1e-7), "sigma's move does not reach the scores"


def check_scoring(
    aggregation: str, fusion: str, patch_scores: str, fusion_stage: str = "image"
) -> None:
    """The image logits of both branches, and the fused ones, as the references compute them:
    the branches' image scores fused (``image``), or each patch's two scores fused and then
    pooled (``patch``)."""
    model = _scac(
        aggregation=aggregation, fusion=fusion, patch_scores=patch_scores, fusion_stage=fusion_stage
    )
    batch = _batch(64)
    with torch.no_grad():
        out = model.eval()(batch.images)
    n = batch.images.shape[0]
    assert len(out.patch_image) > n, "the tiny model should see several patches per image"
    pooled, scores = [], []
    for z, image_z in ((out.object_logits, out.image_object_logits),
                       (out.context_logits, out.image_context_logits)):  # fmt: skip
        scored = REF_PATCH_SCORES[patch_scores](z, out.patch_logits)
        want = REF_AGGREGATIONS[aggregation](scored, out.patch_image, n)
        assert torch.allclose(image_z.double(), want, atol=1e-4), (aggregation, patch_scores)
        pooled.append(image_z)
        scores.append(scored)
    if fusion_stage == "image":
        want = REF_FUSIONS[fusion](*pooled)
    else:
        want = REF_AGGREGATIONS[aggregation](REF_FUSIONS[fusion](*scores), out.patch_image, n)
    assert torch.allclose(out.logits.double(), want, atol=1e-4), (fusion, fusion_stage)


def check_refined_patches() -> None:
    """With refined label patches, the label predictors read the regressor's decoded boxes."""
    model = _scac(label_patches="refined")
    batch = _batch(64)
    with torch.no_grad():
        out = model.eval()(batch.images)
    deltas = out.box_deltas.split([len(p) for p in out.patches])
    moved = False
    for patch, delta, label_patch in zip(out.patches, deltas, out.label_patches, strict=True):
        want = _decode(patch, delta, (64, 64))
        assert torch.allclose(label_patch.double(), want, atol=1e-3), "not the decoded boxes"
        moved |= not torch.allclose(label_patch, patch)
    assert moved, "the refinement moved no patch"


def check_box_normalisation() -> None:
    """Lr is the smooth-L1 sum over positive patches divided by the positives (``positives``)
    or by every sampled patch (``sampled``); every patch is sampled here, so both are known."""
    gt = [torch.tensor([[10.0, 10.0, 40.0, 40.0]])]
    patch = torch.tensor([
        [10.0, 10.0, 40.0, 40.0], [11.0, 9.0, 41.0, 39.0], [9.0, 11.0, 38.0, 41.0],  # objects
        [50.0, 50.0, 60.0, 60.0], [0.0, 50.0, 8.0, 60.0],  # background
    ])  # fmt: skip
    deltas = torch.linspace(-1.5, 1.5, 20).reshape(5, 4)
    logits = torch.zeros(5)
    w, h = patch[:3, 2] - patch[:3, 0], patch[:3, 3] - patch[:3, 1]
    gw, gh = 30.0, 30.0
    target = torch.stack([
        10 * ((10 + gw / 2) - (patch[:3, 0] + w / 2)) / w,
        10 * ((10 + gh / 2) - (patch[:3, 1] + h / 2)) / h,
        5 * torch.log(gw / w), 5 * torch.log(gh / h)], 1)  # fmt: skip
    x = (deltas[:3] - target).abs()
    total = torch.where(x < 1, 0.5 * x**2, x - 0.5).sum()  # eq. 2-3 over the 3 positives
    for normaliser, count in (("positives", 3), ("sampled", 5)):
        torch.manual_seed(0)
        lr, _ = patch_losses(
            [patch], deltas, logits, gt, fg_iou=0.5, batch_size=64, positive_fraction=0.5,
            box_normalisation=normaliser,
        )  # fmt: skip
        assert torch.allclose(lr, total / count, atol=1e-5), (normaliser, float(lr))


# --- every switch does what it says -----------------------------------------------------


@pytest.mark.parametrize("reading", ["logit", "probability"])  # "loss": sigma is not in scores
def test_a_learnable_sigma_learns_and_reaches_the_scores(reading):
    check_sigma_learns(reading)


def test_every_registered_reading_has_a_reference():
    assert set(pooling.PATCH_SCORES.names()) == set(REF_PATCH_SCORES)
    assert set(pooling.AGGREGATIONS.names()) == set(REF_AGGREGATIONS)
    assert set(pooling.FUSIONS.names()) == set(REF_FUSIONS)


@pytest.mark.parametrize("aggregation", sorted(REF_AGGREGATIONS))
def test_every_aggregation_pools_as_its_reference(aggregation):
    check_scoring(aggregation, "mean", "labels")


@pytest.mark.parametrize("fusion", sorted(REF_FUSIONS))
def test_every_fusion_fuses_as_its_reference(fusion):
    check_scoring("max", fusion, "labels")


@pytest.mark.parametrize("patch_scores", sorted(REF_PATCH_SCORES))
def test_every_patch_score_scores_as_its_reference(patch_scores):
    check_scoring("topk", "product", patch_scores)


def test_refined_patches_are_the_regressors_decoded_boxes():
    check_refined_patches()


def test_each_box_normaliser_divides_by_what_the_docs_say():
    check_box_normalisation()


# --- and a switch made a no-op fails its test --------------------------------------------


def test_a_constant_sigma_fails(monkeypatch):
    monkeypatch.setattr(heads.LabelScale, "value", lambda self: torch.tensor(0.5))
    with pytest.raises(AssertionError, match="did not move"):
        check_sigma_learns("logit")


@pytest.mark.parametrize("name", ["mean", "lse", "topk"])
def test_an_aggregation_that_is_max_in_disguise_fails(monkeypatch, name):
    monkeypatch.setitem(pooling.AGGREGATIONS._items, name, pooling.max_over_patches)
    with pytest.raises(AssertionError):
        check_scoring(name, "mean", "labels")


@pytest.mark.parametrize("name", ["max", "product"])
def test_a_fusion_that_is_the_mean_in_disguise_fails(monkeypatch, name):
    monkeypatch.setitem(pooling.FUSIONS._items, name, pooling.fuse_mean)
    with pytest.raises(AssertionError):
        check_scoring("max", name, "labels")


def test_an_ungated_objectness_score_fails(monkeypatch):
    monkeypatch.setitem(pooling.PATCH_SCORES._items, "objectness", pooling.label_scores)
    with pytest.raises(AssertionError):
        check_scoring("topk", "product", "objectness")


def test_unrefined_label_patches_fail(monkeypatch):
    monkeypatch.setattr(patches.RefinePatches, "forward", lambda self, p, d, s: p)
    with pytest.raises(AssertionError):
        check_refined_patches()


def test_a_normaliser_that_ignores_its_setting_fails(monkeypatch):
    import scac.losses.terms as terms

    original = terms.patch_losses

    def positives_always(*args, **kwargs):
        return original(*args, **{**kwargs, "box_normalisation": "positives"})

    monkeypatch.setattr(sys.modules[__name__], "patch_losses", positives_always)
    with pytest.raises(AssertionError, match="sampled"):
        check_box_normalisation()
