"""Stored predictions: logits kept so every protocol re-scores a stored run exactly as in memory;
files from before the logits were stored still read."""

import warnings

import numpy as np
import pytest

from scac.metrics import evaluate_predictions
from scac.metrics.protocols import PROTOCOLS
from scac.predictions import Predictions


def _predictions(logits: np.ndarray, targets: np.ndarray) -> Predictions:
    n, c = logits.shape
    return Predictions(
        scores=(1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32),
        logits=logits.astype(np.float32),
        targets=targets.astype(np.uint8),
        mask=np.ones((n, c), bool),
        image_ids=np.arange(n) + 100,
        classes=[f"c{j}" for j in range(c)],
        class_groups=["ambiguous" if j % 2 else "" for j in range(c)],
    )


def _saturated(seed: int = 0) -> Predictions:
    """Confident logits (18 to 50) whose float32 sigmoids all tie at 1.0, ordered by the labels."""
    rng = np.random.default_rng(seed)
    targets = rng.random((60, 4)) < 0.4
    targets[0] = True  # every class has a positive
    logits = rng.uniform(18, 40, (60, 4)) + 10 * targets  # positives above negatives
    logits[rng.random((60, 4)) < 0.3] *= -1  # some confident negatives too
    return _predictions(logits, targets)


@pytest.mark.parametrize("protocol", PROTOCOLS.names())
def test_a_stored_run_rescores_as_in_memory_under_every_preset(tmp_path, protocol):
    pred = _saturated()
    stored = Predictions.load(pred.save(tmp_path / "predictions.npz"))
    assert stored.logits is not None
    assert evaluate_predictions(stored, protocol) == evaluate_predictions(pred, protocol)


def test_logits_keep_the_order_that_float32_probabilities_lose():
    pred = _saturated()
    assert (pred.scores[pred.logits > 0] == 1.0).all()
    exact = evaluate_predictions(pred, "default").metrics["mAP"]
    tied = evaluate_predictions(pred, "default", values="probability").metrics["mAP"]
    assert exact > tied  # positives outrank negatives among the confident ones only by logit


def test_files_without_logits_still_load_and_score_their_probabilities(tmp_path):
    pred = _saturated()
    path = tmp_path / "old.npz"
    np.savez_compressed(  # the layout written before logits were stored
        path,
        scores=pred.scores,
        targets=pred.targets,
        mask=pred.mask,
        image_ids=pred.image_ids,
        classes=np.array(pred.classes),
        class_groups=np.array(pred.class_groups),
    )
    old = Predictions.load(path)
    assert old.logits is None
    assert evaluate_predictions(old) == evaluate_predictions(pred, values="probability")
    with pytest.raises(ValueError, match="without logits"):
        old.values("logit")


def test_logits_of_the_wrong_shape_are_refused():
    pred = _saturated()
    with pytest.raises(ValueError, match="logits"):
        Predictions(**{**pred.__dict__, "logits": pred.logits[:, :2]})


def test_logits_that_disagree_with_the_scores_are_named(tmp_path):
    """Issue 33: a file whose logits said other things than its scores was scored by the
    logits without a word (mAP 53.60 against 54.04)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20, 3)).astype(np.float32)
    pred = Predictions(
        scores=(1 / (1 + np.exp(-logits))).astype(np.float32),
        targets=(rng.random((20, 3)) < 0.4).astype(np.uint8),
        mask=np.ones((20, 3), bool),
        image_ids=np.arange(20),
        classes=["a", "b", "c"],
        class_groups=["", "", ""],
        logits=logits,
    )
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    pred.save(good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Predictions.load(good)  # the two views agree: nothing said
    pred.scores = pred.scores[::-1].copy()  # scores edited, logits not
    pred.save(bad)
    with pytest.warns(UserWarning, match=r"bad.npz: its logits disagree with its scores"):
        Predictions.load(bad)
