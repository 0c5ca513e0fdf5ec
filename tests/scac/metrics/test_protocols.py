"""Protocol presets against re-implementations of the codebases they mirror, and the registry.

Each ``_ref_*`` below restates, in a plain per-class loop, the evaluation code named in the
preset's ``source`` (read, not copied); the presets must agree with it to 1e-6 on data without
tied scores, where those codebases' unstable sorts cannot change the result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import (
    multilabel_average_precision,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)

from scac.metrics import PROTOCOLS, Protocol, evaluate, get_protocol

EPS = np.finfo(np.float64).eps


def _data(n=500, c=6, seed=0):
    """Logits without ties, labels 1 / 0 with ~20% ignored ("difficult") entries."""
    g = torch.Generator().manual_seed(seed)
    targets = (torch.rand(n, c, generator=g) < 0.25).double()
    logits = 1.5 * targets - 1.0 + torch.randn(n, c, generator=g, dtype=torch.float64)
    mask = torch.rand(n, c, generator=g) > 0.2
    return logits, targets, mask


def _loop_ap(s, y, keep):
    """Mean precision at each positive, images in descending score order, ignored skipped."""
    hits = seen = total = 0.0
    for i in np.argsort(-s, kind="stable"):
        if keep[i]:
            seen += 1
            hits += y[i]
            total += y[i] * hits / seen
    return total / hits if hits else 0.0


def _voc_ap(s, y):
    """SRN's AP_VOC.m / Query2Label's voc_ap: precision envelope over every image."""
    yy = y[np.argsort(-s, kind="stable")]
    tp, fp = np.cumsum(yy), np.cumsum(1 - yy)
    r = np.concatenate([[0], tp / yy.sum(), [1]])
    p = np.concatenate([[0], tp / np.maximum(tp + fp, EPS), [0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    i = np.nonzero(r[1:] != r[:-1])[0]
    return np.sum((r[i + 1] - r[i]) * p[i + 1])


def _ref_mlgcn(logits, targets, mask):
    """util.py AveragePrecisionMeter: AP skips difficult; ``evaluation`` counts them negative."""
    s, t, m = logits.numpy(), targets.numpy(), mask.numpy()
    ap = np.mean([_loop_ap(s[:, k], t[:, k], m[:, k]) for k in range(s.shape[1])])

    t = t * m  # ML-GCN's labels: 1 positive, 0 difficult, -1 (here 0) negative

    def evaluation(pred):
        nc, np_, ng = (pred * t).sum(0), pred.sum(0), t.sum(0)
        np_[np_ == 0] = 1
        op, orec = nc.sum() / np_.sum(), nc.sum() / ng.sum()
        cp, cr = np.mean(nc / np_), np.mean(nc / ng)
        return [cp, cr, 2 * cp * cr / (cp + cr), op, orec, 2 * op * orec / (op + orec)]

    top3 = np.zeros_like(s)
    np.put_along_axis(top3, np.argsort(-s, 1)[:, :3], 1, 1)
    return [ap, *evaluation(s >= 0), *evaluation((top3 == 1) & (s >= 0))]


def _ref_mmpretrain(probs, targets, mask):
    """multi_label.py: AP over targets != -1 (no positive: 0); ``>=`` thr; top-k without thr."""
    s, t, m = probs.numpy(), targets.numpy(), mask.numpy()
    ap = np.mean([_loop_ap(s[:, k], t[:, k], m[:, k]) for k in range(s.shape[1])])

    def prf(pred):
        pred, gt = pred & m, (t == 1) & m
        tp, n_pred, n_gt = (pred & gt).sum(0), pred.sum(0), gt.sum(0)
        p, r = tp / np.maximum(n_pred, 1), tp / np.maximum(n_gt, 1)
        f1 = 2 * p * r / np.maximum(p + r, np.finfo(np.float32).eps)
        op, orec = tp.sum() / max(n_pred.sum(), 1), tp.sum() / max(n_gt.sum(), 1)
        return [p.mean(), r.mean(), f1.mean(), op, orec, 2 * op * orec / (op + orec)]

    top3 = np.zeros_like(s, dtype=bool)
    np.put_along_axis(top3, np.argsort(-s, 1)[:, :3], True, 1)
    return [ap, *prf(s >= 0.5), *prf(top3)]


def _ref_srn(probs, targets):
    """evaluate.m with precision_recall_f1.m: ``+ eps`` everywhere, F1-C = mean per-class F1."""
    s, t = probs.numpy(), targets.numpy().astype(bool)
    ap = np.mean([_voc_ap(s[:, k], t[:, k].astype(float)) for k in range(s.shape[1])])

    def prf(labels, pred):
        tp = (labels & pred).sum(0) + EPS
        p = tp / (pred.sum(0) + EPS)
        r = tp / (labels.sum(0) + EPS) + EPS
        return p, r, 2 * p * r / (p + r)

    pc, rc, fc = prf(t, s > 0.5)
    po, ro, fo = prf(t.reshape(-1, 1), (s > 0.5).reshape(-1, 1))
    return [ap, pc.mean(), rc.mean(), fc.mean(), po[0], ro[0], fo[0]]


def _check(ev, keys, ref):
    for key, value in zip(keys, ref, strict=True):
        assert ev.metrics[key] / 100 == pytest.approx(value, abs=1e-6), key


def test_mlgcn_preset_reproduces_mlgcn_on_logits_with_difficult_entries():
    logits, targets, mask = _data()
    ev = evaluate(logits, targets, mask, protocol="mlgcn", score_kind="logit")
    keys = ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"]
    _check(ev, keys + [f"{k}_top3" for k in keys[1:]], _ref_mlgcn(logits, targets, mask))


@pytest.mark.own_rng  # random weights, inputs or samplers from the global generators
def test_mlgcn_pooled_precision_quirk_is_documented_not_reproduced():
    logits, targets, mask = _data()
    logits[:, 5] = -1.0 - torch.rand(logits.shape[0], dtype=torch.float64)  # never predicted
    ev = evaluate(logits, targets, mask, protocol="mlgcn", score_kind="logit")
    quirk = _ref_mlgcn(logits, targets, mask)[4]  # ML-GCN's OP: Np = 0 replaced by 1 first
    pred, t = (logits >= 0).numpy(), (targets * mask).numpy()
    pooled = (pred * t).sum() / pred.sum()
    assert ev.metrics["OP"] / 100 == pytest.approx(pooled, abs=1e-9)
    assert quirk == pytest.approx((pred * t).sum() / (pred.sum() + 1), abs=1e-9)


def test_mmpretrain_preset_reproduces_mmpretrain():
    logits, targets, mask = _data()
    targets[:, 0] = 0  # a class without positives counts as AP 0 there
    probs = torch.sigmoid(logits)
    ev = evaluate(probs, targets, mask, protocol="mmpretrain")
    keys = ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"]
    _check(ev, keys + [f"{k}_top3" for k in keys[1:]], _ref_mmpretrain(probs, targets, mask))


@pytest.mark.own_rng  # random weights, inputs or samplers from the global generators
def test_srn_preset_reproduces_srn_including_its_eps_conventions():
    logits, targets, _ = _data()
    logits[:, 1] = -5.0 - torch.rand(logits.shape[0], dtype=torch.float64)  # never predicted
    probs = torch.sigmoid(logits)
    ev = evaluate(probs, targets, protocol="srn")
    ref = _ref_srn(probs, targets)
    _check(ev, ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"], ref)
    assert ev.metrics["CF1"] == ev.metrics["CF1_mean_f1"] != ev.metrics["CF1_harmonic"]


def test_query2label_and_asl_presets_reproduce_their_map():
    logits, targets, _ = _data()
    s, t = logits.numpy(), targets.numpy()
    q2l = np.mean([_voc_ap(s[:, k], t[:, k]) for k in range(s.shape[1])])
    assert evaluate(logits, targets, protocol="query2label", score_kind="logit").metrics[
        "mAP"
    ] == pytest.approx(100 * q2l, abs=1e-6)
    targets[:, 2] = 0  # ASL's epsilon: a class without positives gets AP 0, kept in the mean
    t = targets.numpy()
    asl = np.mean([_loop_ap(s[:, k], t[:, k], np.ones_like(t[:, k])) for k in range(6)])
    ev = evaluate(logits, targets, protocol="asl", score_kind="logit")
    assert ev.metrics["mAP"] == pytest.approx(100 * asl, abs=1e-6)


@pytest.mark.parametrize("score_kind", ["probability", "logit"])
def test_torchmetrics_preset_matches_torchmetrics(score_kind):
    logits, targets, mask = _data()
    targets[:, 3] = 0
    scores = torch.sigmoid(logits) if score_kind == "probability" else logits
    tm_target = torch.where(mask, targets, torch.full_like(targets, -1)).long()
    kw = {"num_labels": 6, "ignore_index": -1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics warns about the class without positives
        ref = [multilabel_average_precision(scores, tm_target, **kw)]
    for fn, average in [
        (multilabel_precision, "macro"),
        (multilabel_recall, "macro"),
        (multilabel_f1_score, "macro"),
        (multilabel_precision, "micro"),
        (multilabel_recall, "micro"),
        (multilabel_f1_score, "micro"),
    ]:
        ref.append(fn(scores, tm_target, average=average, **kw))
    ev = evaluate(scores, targets, mask, protocol="torchmetrics", score_kind=score_kind)
    _check(ev, ["mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"], [r.item() for r in ref])


def test_registry_is_strict_and_holds_every_preset():
    assert PROTOCOLS.names() == sorted(
        ["default", "mlgcn", "asl", "srn", "query2label", "mmpretrain", "torchmetrics"]
    )
    known = "asl, default, mlgcn, mmpretrain, query2label, srn, torchmetrics"
    with pytest.raises(ValueError, match=f"unknown metric protocol 'voc'; known: {known}"):
        get_protocol("voc")
    with pytest.raises(ValueError, match="already registered"):
        PROTOCOLS.add("default", Protocol("default"))
    assert all(PROTOCOLS.get(name).source for name in PROTOCOLS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "ap_formula",
            "voc12",
            "ap_formula must be one of noninterp, voc2010, voc2007, voc2007_py",
        ),
        ("ap_ties", "random", "ap_ties must be one of group, order"),
        ("no_positive", "nan", "no_positive must be one of exclude, zero, raise"),
        ("comparison", "gt", "comparison must be one of >, >="),
        ("cf1", "micro", "cf1 must be one of harmonic, mean_f1"),
        ("threshold_space", "odds", "threshold_space must be one of probability, logit"),
        ("ignored_in_threshold", "x", "ignored_in_threshold must be one of excluded, negative"),
        ("zero_division", 0.5, "zero_division must be 0 or 1"),
        ("threshold", 1.5, r"a probability threshold must be in \[0, 1\]"),
        ("top_k", 0, "top_k must be >= 1"),
    ],
)
def test_bad_protocol_choices_raise(field, value, message):
    with pytest.raises(ValueError, match=message):
        Protocol("custom", **{field: value})


def test_classes_without_positives_exclude_zero_or_raise():
    logits, targets, _ = _data()
    targets[:, 4] = 0
    names = ["a", "b", "c", "d", "e", "f"]
    probs = torch.sigmoid(logits)
    with pytest.warns(UserWarning, match="classes without positives left out of mAP: e"):
        excluded = evaluate(probs, targets, classes=names)
    assert np.isnan(excluded.per_class_ap["e"])
    valid = [v for k, v in excluded.per_class_ap.items() if k != "e"]
    assert excluded.metrics["mAP"] == pytest.approx(np.mean(valid))
    zero = evaluate(probs, targets, protocol=Protocol("z", no_positive="zero"), classes=names)
    assert zero.metrics["mAP"] == pytest.approx(np.sum(valid) / 6)
    with pytest.raises(ValueError, match=r"classes without positives \(protocol says raise\): e"):
        evaluate(probs, targets, protocol="mlgcn", classes=names)


@pytest.mark.own_rng  # random weights, inputs or samplers from the global generators
def test_scores_must_match_their_declared_kind():
    logits, targets, _ = _data()
    with pytest.raises(ValueError, match="scores outside \\[0, 1\\] are not probabilities"):
        evaluate(logits, targets)
    with pytest.raises(ValueError, match="score_kind must be one of probability, logit"):
        evaluate(logits, targets, score_kind="raw")
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        evaluate(torch.rand(4, 3), torch.ones(4, 3), classes=["a", "b"])


def test_with_fewer_classes_than_k_every_class_is_in_the_top_k():
    scores, targets = torch.tensor([[0.9, 0.2], [0.3, 0.8]]), torch.tensor([[1, 0], [0, 1]])
    m = evaluate(scores, targets).metrics
    assert m["CP_top3"] == m["CP"] == 100.0
    assert m["OR_top3"] == 100.0
    assert evaluate(scores, targets, protocol="mmpretrain").metrics["OP_top3"] == 50.0


def test_logit_and_probability_thresholds_agree():
    logits, targets, mask = _data()
    for name in ("default", "mlgcn", "mmpretrain"):
        a = evaluate(logits, targets, mask, protocol=name, score_kind="logit").metrics
        b = evaluate(torch.sigmoid(logits), targets, mask, protocol=name).metrics
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=1e-9), (name, key)
