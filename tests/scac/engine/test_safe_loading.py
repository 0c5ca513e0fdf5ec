"""Nothing a run reads back runs code: every loader of a store, artifacts or cache file.

Each crafted file creates a marker file when it is unpickled the unsafe way (checked first, so
a payload that has gone stale fails the test instead of passing it); the toolkit's loader must
refuse it, run nothing, and name the file. Checkpoints also resume bit-identically and say how
to restart when they cannot be read.
"""

from __future__ import annotations

import json
import pickle
import random
import zlib
from dataclasses import MISSING, fields
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from scac.engine.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from scac.engine.feature_files import CacheKey, open_folder
from scac.models.weights import load_backbone_weights, load_parts
from scac.predictions import Predictions

# torch warns that a raw pickle uses another protocol before it refuses it
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")


class _Touch:
    """Unpickles as ``Path.touch(marker)``: code that runs on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(autouse=True)
def _keep_rng():
    """These tests seed and restore the global generators: leave them as they were."""
    saved = torch.get_rng_state(), np.random.get_state(), random.getstate()
    yield
    torch.set_rng_state(saved[0])
    np.random.set_state(saved[1])
    random.setstate(saved[2])


def _npz_object(path: Path):
    with np.load(path, allow_pickle=True) as f:
        return f["scores"]


# Each case: (folder, marker) -> (crafted file, load it unsafely, load it with the toolkit).


def _checkpoint_pickle(tmp: Path, marker: Path):
    path = tmp / "checkpoint.pt"
    path.write_bytes(pickle.dumps(_Touch(marker)))
    return path, lambda: pickle.loads(path.read_bytes()), lambda: load_checkpoint(path)


def _checkpoint_torch(tmp: Path, marker: Path):
    path = tmp / "checkpoint.pt"
    torch.save({"format": FORMAT, "rng": _Touch(marker), "epoch": 1}, path)
    unsafe = lambda: torch.load(path, weights_only=False)  # noqa: E731
    return path, unsafe, lambda: load_checkpoint(path)


def _predictions(tmp: Path, marker: Path):
    path = tmp / "predictions.npz"
    np.savez(  # np.save pickles object arrays unless told not to
        path,
        scores=np.array([_Touch(marker)], dtype=object),
        targets=np.zeros((1, 1), np.float32),
        mask=np.ones((1, 1), bool),
        image_ids=np.array([0]),
        classes=np.array(["a"]),
        class_groups=np.array([""]),
    )
    return path, lambda: _npz_object(path), lambda: Predictions.load(path)


def _backbone_weights(tmp: Path, marker: Path):
    path = tmp / "backbone.pt"
    torch.save({"weight": _Touch(marker)}, path)
    unsafe = lambda: torch.load(path, weights_only=False)  # noqa: E731
    return path, unsafe, lambda: load_backbone_weights(nn.Linear(1, 1), path)


def _model_parts(tmp: Path, marker: Path):
    path = tmp / "detector.pt"
    torch.save({"backbone.weight": _Touch(marker)}, path)
    model = nn.ModuleDict({"backbone": nn.Linear(1, 1)})
    unsafe = lambda: torch.load(path, weights_only=False)  # noqa: E731
    return path, unsafe, lambda: load_parts(model, path, ("backbone",))


def _any_key() -> CacheKey:
    """A key with a value of its field's type in every field: ``open_folder`` only compares it."""
    value = {"str": "0" * 16, "int": 1, "bool": True}
    return CacheKey(**{f.name: value[f.type] for f in fields(CacheKey) if f.default is MISSING})


KEY = _any_key()


def _cache_folder(tmp: Path, level: np.ndarray, missing: np.ndarray) -> Path:
    """A complete-looking cache folder for :data:`KEY`: one level ``p2``, as ``_fill`` writes."""
    folder = tmp / f"{KEY.stage}-{KEY.digest()}"
    folder.mkdir()
    np.save(folder / "p2.npy", level)  # object arrays are pickled (allow_pickle defaults True)
    np.save(folder / "missing.npy", missing)
    crcs = {f.name: f"{zlib.crc32(f.read_bytes()):08x}" for f in folder.glob("*.npy")}
    meta = {
        "key": KEY.__dict__,
        "shapes": {"p2": list(level.shape)},
        "crc32": crcs,  # as _fill records them: a crafted folder can have the right ones
        "complete": True,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _cache_level(tmp: Path, marker: Path):
    level = np.empty((1, 1, 1, 1, 1), dtype=object)  # (N, F, C, H, W)
    level[0, 0, 0, 0, 0] = _Touch(marker)
    folder = _cache_folder(tmp, level, np.zeros(1, bool))
    path = folder / "p2.npy"
    return path, lambda: np.load(path, allow_pickle=True), lambda: open_folder(folder, KEY)


def test_the_crafted_cache_folder_opens_with_plain_arrays(tmp_path):
    folder = _cache_folder(tmp_path, np.zeros((1, 1, 1, 1, 1), np.float32), np.zeros(1, bool))
    assert open_folder(folder, KEY).levels["p2"].shape == (
        1,
        1,
        1,
        1,
        1,
    )  # only the payload differs


def _cache_missing(tmp: Path, marker: Path):
    level = np.zeros((1, 1, 1, 1, 1), np.float32)
    folder = _cache_folder(tmp, level, np.array([_Touch(marker)], dtype=object))
    path = folder / "missing.npy"
    return path, lambda: np.load(path, allow_pickle=True), lambda: open_folder(folder, KEY)


CASES = {
    "checkpoint-pickle": _checkpoint_pickle,
    "checkpoint-torch-save": _checkpoint_torch,
    "predictions-npz": _predictions,
    "backbone-weights": _backbone_weights,
    "model-parts": _model_parts,
    "feature-cache-level": _cache_level,
    "feature-cache-missing": _cache_missing,
}


def _refused(craft, tmp_path: Path) -> tuple[Path, Exception]:
    """The crafted file and the loader's error, after checking the payload is live and inert."""
    marker = tmp_path / "marker"
    path, unsafe, load = craft(tmp_path, marker)
    unsafe()
    assert marker.exists(), "the crafted file must run code when loaded unsafely"
    marker.unlink()
    try:
        load()
    except Exception as err:  # any refusal; its message is checked by the caller
        error = err
    else:
        pytest.fail(f"the loader accepted the crafted file {path}")
    assert not marker.exists(), f"loading {path} ran code"
    return path, error


@pytest.mark.parametrize("craft", list(CASES.values()), ids=list(CASES))
def test_a_crafted_file_runs_no_code(craft, tmp_path):
    _refused(craft, tmp_path)


@pytest.mark.parametrize("craft", list(CASES.values()), ids=list(CASES))
def test_the_refusal_names_the_crafted_file(craft, tmp_path):
    path, error = _refused(craft, tmp_path)
    assert str(path) in str(error)


def test_a_crafted_checkpoint_is_a_checkpoint_error_saying_how_to_restart(tmp_path):
    path, error = _refused(_checkpoint_torch, tmp_path)
    assert isinstance(error, CheckpointError) and isinstance(error, ValueError)
    assert "weights-only unpickler refused it" in str(error) and "\n" not in str(error)


def _draw() -> tuple:
    """Numbers from every generator a run uses, NumPy's cached Gaussian first."""
    return (
        np.random.normal(),
        np.random.rand(3).tolist(),
        random.random(),
        random.getrandbits(64),
        torch.rand(3).tolist(),
        torch.randint(0, 1 << 30, (3,)).tolist(),
    )


def test_a_checkpoint_restores_every_random_generator_exactly(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draw()  # its normal() leaves NumPy's second Gaussian cached: that must survive too
    assert np.random.get_state()[3] == 1
    save_checkpoint(tmp_path / "checkpoint.pt", epoch=1, log={"steps": 2, "epoch_loss": []})
    after_save = _draw()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1 and state["log"] == {"steps": 2, "epoch_loss": []}
    set_rng_state(state["rng"])
    assert _draw() == after_save


def test_a_checkpoint_holds_only_what_loads_weights_only(tmp_path):
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(TypeError, match=r"checkpoint\['log'\]\['loss'\] is a numpy.float64"):
        save_checkpoint(path, log={"loss": np.float64(0.5)})
    assert not path.exists()


def _old_format(path: Path) -> None:
    """What format 1 wrote: NumPy's state as pickled NumPy objects."""
    rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": (1, 2)}
    torch.save({"format": 1, "rng": rng, "epoch": 1}, path)


def test_a_format_1_checkpoint_is_refused_with_how_to_restart(tmp_path):
    path = tmp_path / "checkpoint.pt"
    _old_format(path)
    assert torch.load(path, weights_only=False)["format"] == 1  # a genuine old checkpoint
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "delete" in message and "\n" not in message


def _truncated(path: Path) -> None:
    save_checkpoint(path, epoch=1)
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("write", "why"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (_truncated, "truncated or not a torch file"),
        (lambda p: p.write_text("epoch = 1\n"), "truncated or not a torch file"),
        (lambda p: torch.save([1, 2], p), "it holds a list, not a dict"),
        (lambda p: torch.save({"format": 3}, p), "format 3; this version reads format 2"),
        (lambda p: torch.save({"format": FORMAT}, p), "no random-generator state"),
        (_old_format, "torch's weights-only unpickler refused it: Unsupported global"),
    ],
    ids=["missing", "empty", "truncated", "text", "list", "format-3", "no-rng", "format-1"],
)
def test_an_unreadable_checkpoint_is_named_with_how_to_restart(write, why, tmp_path):
    path = tmp_path / "checkpoint.pt"
    write(path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)  # "why" may go on with torch's own detail
    assert message.startswith(f"cannot read checkpoint {path} safely ({why}")
    assert message.endswith("): delete it to restart the run from its first epoch")
    assert "\n" not in message
