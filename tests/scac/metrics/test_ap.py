"""AP formulas: parity with scikit-learn and torchmetrics, VOC formulas and ties by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve
from torchmetrics.functional.classification import multilabel_average_precision

from scac.metrics import average_precision
from scac.metrics.curve import FORMULAS
from scac.metrics.inputs import check_inputs
from scac.metrics.ranking import RankedPositives


def _tied(n=400, c=7, levels=10, seed=0, rate=0.2):
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, c, generator=g) < rate).double()
    scores = (torch.randint(0, levels, (n, c), generator=g).double() + 3 * targets) / (levels + 3)
    return scores, targets, g


# the 11 thresholds as each code computes them: MATLAB's 0:0.1:1 in VOCevalcls.m (sprintf
# '%.17g'), and np.arange(0, 1.1, 0.1) in py-faster-rcnn's voc_eval.py
ELEVEN = {
    "voc2007": [0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "voc2007_py": np.arange(0.0, 1.1, 0.1).tolist(),
}


def _voc_reference(recall: np.ndarray, precision: np.ndarray, formula: str) -> float:
    """The PASCAL VOC devkit's AP rules over one class's (recall, precision) points."""
    if formula in ELEVEN:  # for t = thresholds: p = max(prec(rec >= t)), 0 if none; mean of 11
        return float(np.mean([precision[recall >= t].max(initial=0) for t in ELEVEN[formula]]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    i = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[i + 1] - r[i]) * p[i + 1]))


def _per_image_curve(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every image, in stable descending score order (ties by order)."""
    y = targets[np.argsort(-scores, kind="stable")]
    tp, fp = np.cumsum(y), np.cumsum(1 - y)
    return tp / y.sum(), tp / (tp + fp)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("levels", [2, 3, 10, 1000])
def test_noninterp_grouped_matches_sklearn_with_ties(levels, dtype):
    scores, targets, _ = _tied(levels=levels, seed=levels)
    scores = scores.to(dtype)  # float32 takes the argsort-free path
    ours = average_precision(scores, targets).numpy()
    ref = [average_precision_score(targets[:, c], scores[:, c]) for c in range(7)]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_noninterp_grouped_matches_torchmetrics_with_ignore_index():
    scores, targets, g = _tied()
    mask = torch.rand(scores.shape, generator=g) > 0.1
    tm_target = torch.where(mask, targets, torch.full_like(targets, -1)).long()
    ref = multilabel_average_precision(
        scores.float(), tm_target, 7, average="none", ignore_index=-1
    )
    ours = average_precision(scores.float(), targets, mask)
    np.testing.assert_allclose(ours.numpy(), ref.double().numpy(), atol=1e-6)


def test_voc_formulas_by_hand():
    scores = torch.tensor([[0.9], [0.8], [0.7], [0.6], [0.5]])
    targets = torch.tensor([[1.0], [0.0], [0.0], [1.0], [1.0]])
    # precision at each rank 1, 1/2, 1/3, 1/2, 3/5; recall 1/3, 1/3, 1/3, 2/3, 1
    assert average_precision(scores, targets)[0].item() == pytest.approx((1 + 1 / 2 + 3 / 5) / 3)
    # the envelope lifts the positive at rank 4 from 1/2 to 3/5
    voc = average_precision(scores, targets, formula="voc2010")[0].item()
    assert voc == pytest.approx((1 + 3 / 5 + 3 / 5) / 3)
    # t = 0 ... 0.3 reach recall 1/3 (max precision 1); t = 0.4 ... 1 reach 2/3 or 1 (3/5)
    voc07 = average_precision(scores, targets, formula="voc2007")[0].item()
    assert voc07 == pytest.approx((4 * 1 + 7 * 3 / 5) / 11)


def test_voc2007_uses_the_devkit_thresholds_rounding_included():
    # 10 positives: recall is exactly 0.3 at rank 3, but the devkit's 4th threshold is
    # np.arange(0, 1.1, 0.1)[3] = 0.30000000000000004, first reached at rank 8 (recall 0.4)
    targets = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1.0])[:, None]
    scores = torch.linspace(1, 0, 14)[:, None]
    voc07 = average_precision(scores, targets, formula="voc2007")[0].item()
    assert voc07 == pytest.approx((3 * 1 + 8 * 10 / 14) / 11)


@pytest.mark.parametrize(
    ("formula", "expected"),
    [  # the devkit's 0.6 and 0.7 are reached at recall 6/10 and 7/10, the port's one rank later
        ("voc2007", (7 * 1 + 7 / 8 + 8 / 12 + 2 * 10 / 16) / 11),
        ("voc2007_py", (6 * 1 + 7 / 8 + 2 * 8 / 12 + 2 * 10 / 16) / 11),
    ],
)
def test_eleven_point_ap_on_recalls_of_exactly_six_and_seven_tenths(formula, expected):
    # 10 positives: ranks 1-6 (recall 0.6, precision 1), rank 8 (recall 0.7, precision 7/8),
    # rank 12 (recall 0.8, precision 8/12), ranks 15 and 16 (recall 0.9 and 1, precision 10/16)
    hits = [1] * 6 + [0] + [1] + [0] * 3 + [1] + [0] * 2 + [1, 1]
    targets = torch.tensor(hits, dtype=torch.float64)[:, None]
    scores = torch.linspace(1, 0, len(hits), dtype=torch.float64)[:, None]
    # recalls 6/10 and 7/10 are the doubles 0.6 and 0.7: below np.arange's 7th and 8th values
    assert 6 / 10 == 0.6 and 7 / 10 == 0.7 and 6 / 10 < np.arange(0, 1.1, 0.1)[6]
    got = average_precision(scores, targets, formula=formula)[0].item()
    assert got == pytest.approx(expected, abs=1e-15)
    recall, precision = _per_image_curve(scores[:, 0].numpy(), targets[:, 0].numpy())
    assert _voc_reference(recall, precision, formula) == pytest.approx(expected, abs=1e-15)


def test_ties_by_hand():
    scores = torch.tensor([[0.5], [0.5], [0.5], [0.1]])
    targets = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    # grouped: one curve point at the tie group's end, precision 2/3 for both positives
    assert average_precision(scores, targets)[0].item() == pytest.approx(2 / 3)
    # by order: the negative (image 0) comes first, then the positives at ranks 2 and 3
    order = average_precision(scores, targets, ties="order")[0].item()
    assert order == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.parametrize("formula", ["voc2010", "voc2007", "voc2007_py"])
@pytest.mark.parametrize("levels", [5, 100_000])
def test_voc_formulas_match_the_devkit_rules(formula, levels):
    scores, targets, _ = _tied(levels=levels, seed=1)
    ordered = average_precision(scores, targets, formula=formula, ties="order")
    grouped = average_precision(scores, targets, formula=formula, ties="group")
    for c in range(7):
        s, y = scores[:, c].numpy(), targets[:, c].numpy()
        assert ordered[c].item() == pytest.approx(
            _voc_reference(*_per_image_curve(s, y), formula), abs=1e-12
        )
        # grouped ties: the devkit rule over scikit-learn's curve (one point per score)
        p, r, _ = precision_recall_curve(y, s)
        assert grouped[c].item() == pytest.approx(
            _voc_reference(r[::-1][1:], p[::-1][1:], formula), abs=1e-12
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_order_ties_match_a_per_image_loop(dtype):
    scores, targets, g = _tied(levels=4)
    scores = scores.to(dtype)  # float32 takes the argsort-free path
    mask = torch.rand(scores.shape, generator=g) > 0.1
    ours = average_precision(scores, targets, mask, ties="order")
    for c in range(7):
        # ML-GCN / ASL style: walk the images in (stable) score order, skip ignored ones
        hits = seen = total = 0.0
        for i in np.argsort(-scores[:, c].numpy(), kind="stable"):
            if not mask[i, c]:
                continue
            seen += 1
            if targets[i, c] == 1:
                hits += 1
                total += hits / seen
        assert ours[c].item() == pytest.approx(total / hits, abs=1e-12)


def test_without_ties_every_formula_is_tie_mode_independent():
    scores, targets, _ = _tied(levels=1_000_000, seed=5)
    for formula in FORMULAS:
        a = average_precision(scores, targets, formula=formula, ties="group")
        b = average_precision(scores, targets, formula=formula, ties="order")
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_mask_drops_entries_from_every_formula():
    scores = torch.tensor([[0.9], [0.8], [0.7]])
    targets = torch.tensor([[0.0], [1.0], [1.0]])
    mask = torch.tensor([[False], [True], [True]])
    for formula in FORMULAS:
        for ties in ("group", "order"):
            ap = average_precision(scores, targets, mask, formula=formula, ties=ties)
            assert ap[0].item() == pytest.approx(1.0)


def test_class_without_positives_is_nan_and_torchmetrics_counts_it_as_zero():
    scores, targets, _ = _tied()
    targets[:, 2] = 0
    ap = average_precision(scores, targets)
    assert torch.isnan(ap[2]) and not torch.isnan(ap[[0, 1, 3]]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics 1.9: "no positive samples ... recall 1"
        ref = multilabel_average_precision(scores.float(), targets.long(), 7)
    assert torch.nan_to_num(ap).mean().item() == pytest.approx(ref.item(), abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"formula": "voc"},
            "formula must be one of noninterp, voc2010, voc2007, voc2007_py; got 'voc'",
        ),
        ({"ties": "random"}, "ties must be one of group, order; got 'random'"),
    ],
)
def test_unknown_choices_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        average_precision(torch.zeros(2, 2), torch.zeros(2, 2), **kwargs)


@pytest.mark.parametrize("ties", ["group", "order"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_value_sort_path_agrees_with_the_ranked_path(formula, ties):
    # float32 scores with ties, negatives and -0.0 take the argsort-free path; unit weights
    # force the ranked one (an argsort, ties by image index under "order")
    g = torch.Generator().manual_seed(4)
    targets = (torch.rand(500, 9, generator=g) < 0.3).double()
    scores = (torch.randint(-20, 20, (500, 9), generator=g) / 4.0 + targets).float()
    scores[scores == 0] = -0.0
    mask = torch.rand(500, 9, generator=g) > 0.2
    original = scores.clone()
    ranked = RankedPositives(*check_inputs(scores, targets, mask), ties)
    fast = ranked.ap(formula)
    slow = ranked.ap(formula, np.ones((1, 500), np.int32))[0]
    np.testing.assert_allclose(fast, slow, atol=1e-12, rtol=0)
    ref = average_precision(scores.double(), targets, mask, formula=formula, ties=ties)
    np.testing.assert_allclose(fast, ref.numpy(), atol=1e-12, rtol=0)
    assert torch.equal(scores, original)  # the inputs are not modified
