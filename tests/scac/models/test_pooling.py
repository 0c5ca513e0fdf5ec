"""Fusions and patch scores in log space: equal to the probability formulas, and order-keeping
where float32 probabilities round to 0 or 1."""

import pytest
import torch

from scac.models.heads import LabelScale
from scac.models.pooling import FUSIONS, PATCH_SCORES, logit_of_product

PROBABILITY_FORMULAS = {
    "mean": lambda p, q: (p + q) / 2,
    "max": torch.maximum,
    "product": lambda p, q: p * q,
}


@pytest.mark.parametrize("name", sorted(PROBABILITY_FORMULAS))
def test_fusion_is_the_probability_formula_on_log_odds(name):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 64, 5, generator=g, dtype=torch.float64) * 4
    fused = FUSIONS.get(name)(a, b)
    expected = PROBABILITY_FORMULAS[name](torch.sigmoid(a), torch.sigmoid(b))
    torch.testing.assert_close(torch.sigmoid(fused), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PROBABILITY_FORMULAS))
def test_fusion_keeps_the_order_of_saturated_scores(name):
    # float32 sigmoid ties every one of these at 1.0; the fused log-odds must not
    z = torch.tensor([[20.0], [30.0], [40.0], [80.0], [150.0]])
    assert torch.sigmoid(z).unique().numel() == 1
    fused = FUSIONS.get(name)(z, z + 1)
    assert torch.isfinite(fused).all()
    assert (fused.diff(dim=0) > 0).all(), fused.ravel().tolist()


def test_logit_of_product_is_finite_and_exact_at_both_ends():
    a = torch.tensor([-200.0, -30.0, 0.0, 30.0, 200.0], dtype=torch.float64)
    b = torch.tensor([3.0], dtype=torch.float64)
    got = logit_of_product(a, b)
    assert torch.isfinite(got).all()
    # for large a, s(a) s(b) -> s(b): the log-odds tend to b
    assert got[-1].item() == pytest.approx(3.0, abs=1e-12)
    p = torch.sigmoid(a[1:4]) * torch.sigmoid(b)
    torch.testing.assert_close(got[1:4], torch.log(p / (1 - p)))


def test_objectness_gating_caps_a_label_by_its_patch():
    labels = torch.tensor([[10.0, -2.0]])
    gated = PATCH_SCORES.get("objectness")(labels, torch.tensor([-1.0]))
    probs = torch.sigmoid(gated)
    assert (probs <= torch.sigmoid(torch.tensor(-1.0)) + 1e-7).all()
    torch.testing.assert_close(probs, torch.sigmoid(labels) * torch.sigmoid(torch.tensor(-1.0)))


def test_probability_reading_of_sigma_caps_the_probability():
    scale = LabelScale(0.5, reading="probability")
    z = torch.tensor([-5.0, 0.0, 5.0, 60.0])
    torch.testing.assert_close(torch.sigmoid(scale(z)), 0.5 * torch.sigmoid(z))
