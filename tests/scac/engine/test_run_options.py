"""Every way of executing a run leaves its numbers bit for bit, or is part of its run key.

``RunOptions`` are documented as not changing a run's numbers; a field that did (validating
every epoch once drew from the global random generator that the losses' samplers use) would let
one run key name two results. Each field is either run on a fixed tiny config and compared with
the plain run (model weights, every epoch's loss, the predictions' scores and logits), or shown
to be part of the run key. A new field must be added here: the walk fails on an unknown one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from scac import numerics
from scac.engine import RunOptions, run_experiment, run_identity
from scac.engine.callbacks import Callbacks
from scac.predictions import Predictions
from scac.testing import tiny_config

pytestmark = pytest.mark.own_rng  # runs draw model weights from the global generators


class _Counting(Callbacks):
    """Callbacks that see every hook (and a validation per epoch), changing nothing."""

    def __init__(self) -> None:
        self.calls = 0

    def on_step(self, phase, epoch, step, loss) -> None:
        self.calls += 1

    def on_validation(self, step, metrics) -> None:
        self.calls += 1


# field -> the value a run takes instead of its default (each changes how the run executes)
EXECUTED = {
    "num_workers": 1,
    "callbacks": _Counting(),
    "resume": True,
    "validate_every_epoch": True,
    "feature_cache": "FOLDER",  # a cache folder of the test's
    "feature_cache_progress": lambda done, total: None,
    "history_points": 1,
    "numerics": "HERE",  # this process's path: checked, then the run as without it
}
# field -> why it is not run here: it is part of the run key instead
KEYED = {"device": "the device decides the numerics path, part of the run key"}


def _numbers(result, folder) -> list[np.ndarray]:
    preds = Predictions.load(folder / "predictions.npz")
    state = torch.load(folder / "model.pt", weights_only=True)
    losses = [e["loss"] for e in result.log.epoch_loss]
    weights = [state[k].numpy() for k in sorted(state)]
    return [preds.scores, preds.logits, np.array(losses), *weights]


def _run(tmp_path, name: str, **options):
    folder = tmp_path / name
    result = run_experiment(
        tiny_config("scac"),
        artifacts_dir=folder,
        cache_dir=tmp_path / "cache",
        options=RunOptions(device="cpu", **options),
    )
    return _numbers(result, folder)


def test_the_walk_covers_every_field():
    assert {f.name for f in dataclasses.fields(RunOptions)} == set(EXECUTED) | set(KEYED)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("plain"), "plain")


@pytest.mark.parametrize("field", sorted(EXECUTED))
def test_an_option_leaves_the_numbers_bit_for_bit(field, plain, tmp_path):
    value = EXECUTED[field]
    if value == "FOLDER":
        value = tmp_path / "feature-cache"
    elif value == "HERE":
        value = numerics.identity("cpu")
    numbers = _run(tmp_path, field, **{field: value})
    assert len(numbers) == len(plain)
    moved = [
        i for i, (a, b) in enumerate(zip(plain, numbers, strict=True)) if not np.array_equal(a, b)
    ]
    assert not moved, f"RunOptions.{field}={value!r} changed the numbers ({len(moved)} arrays)"
    if field == "feature_cache":
        assert any(value.iterdir()), "the feature cache was not used"


def test_the_device_is_in_the_run_key():
    cfg = tiny_config("scac")
    cpu, cuda = numerics.identity("cpu"), numerics.identity("cuda")
    assert cpu != cuda
    assert run_identity(cfg, cpu) != run_identity(cfg, cuda)


def test_a_run_refuses_a_key_of_another_numerics_path(tmp_path):
    with pytest.raises(numerics.NumericsError, match="names the numerics path 'elsewhere'"):
        _run(tmp_path, "other", numerics="elsewhere")
