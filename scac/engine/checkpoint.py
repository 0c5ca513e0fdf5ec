"""Checkpoints that resume a run exactly: weights, optimiser, schedule, position, random state.

Written at the end of every epoch, atomically (a killed process never leaves half a file), by
rank 0 only. Resuming on the CPU from a checkpoint gives the same numbers as a run that was never
interrupted: the data order and flips are functions of (seed, epoch), and the random state that
samples the losses' anchors and patches is restored.

A checkpoint is data someone else's process may have written (a shared artifacts folder), so
reading one must never run code: it is loaded with ``torch.load(..., weights_only=True)``, and
everything it holds is tensors or plain Python values (``None``, bool, int, float, str, list,
tuple, dict). :func:`save_checkpoint` refuses anything else, so a run never writes a checkpoint
it cannot resume from; :func:`load_checkpoint` turns every file it cannot read safely into a
:class:`CheckpointError` that says how to restart. See ``docs/security.md``.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from scac import RunWarning
from scac.models.weights import load_failure

# 2: random states as plain values and tensors, loaded weights-only; 1 pickled NumPy's state
FORMAT = 2

_PLAIN = (type(None), bool, int, float, str)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read safely; deleting it restarts the run from scratch."""


def _check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` naming the first value under ``where`` a weights-only load refuses."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
        return
    if type(value) in (dict, OrderedDict):
        for k, v in value.items():
            if type(k) not in _PLAIN:
                raise TypeError(f"checkpoint key {where}[{k!r}] is a {type(k).__name__}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"checkpoint value {where} is a {type(value).__module__}.{type(value).__qualname__}; "
        "a checkpoint holds only tensors, None, bool, int, float, str, list, tuple and dict "
        "(it is read back weights-only)"
    )


def rng_state() -> dict[str, Any]:
    """The state of every random generator a run draws from, as tensors and plain values."""
    # NumPy's legacy state: ("MT19937", (624,) uint32 keys, position, has_gauss, cached_gaussian)
    legacy = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    name, keys, pos, has_gauss, cached = legacy
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(keys.astype(np.int64)),  # int64: uint32 values fit exactly
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),  # (version, 625 ints, None): tuples of ints
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved, exactly."""
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["name"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, **content: Any) -> None:
    """Write ``content`` (state dicts, position, log) plus the random state to ``path``.

    Raises:
        TypeError: ``content`` holds a value other than tensors and plain Python values (named).
        OSError: the file cannot be written (a full disk, a read-only folder): the message
            names the checkpoint, and the last complete one (if any) is left in place.
    """
    state = {"format": FORMAT, "rng": rng_state(), **content}
    _check_plain(state, "checkpoint")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(state, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch reports a failed write as a RuntimeError
        reason = getattr(err, "strerror", None) or err
        raise OSError(f"cannot write checkpoint {path}: {reason}") from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint weights-only: no code in the file runs.

    Raises:
        CheckpointError: the file is missing, empty, truncated, not a dict, of another format
            (format 1 pickled NumPy objects), or holds anything but tensors and plain values.
            The message names the file and says to delete it to restart the run.
    """
    path = Path(path)

    def error(why: str) -> CheckpointError:
        return CheckpointError(
            f"cannot read checkpoint {path} safely ({why}): "
            "delete it to restart the run from its first epoch"
        )

    if not path.is_file():
        raise error("no such file")
    if path.stat().st_size == 0:
        raise error("the file is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same error
        raise error(load_failure(err)) from None
    if not isinstance(state, dict):
        raise error(f"it holds a {type(state).__name__}, not a dict")
    if state.get("format") != FORMAT:
        raise error(f"format {state.get('format')!r}; this version reads format {FORMAT}")
    rng = state.get("rng")
    if not isinstance(rng, dict) or not {"torch", "numpy", "python"} <= set(rng):
        raise error("no random-generator state")
    return state


def resume_state(checkpoint: Path, resume: bool) -> dict | None:
    """The checkpoint to continue from; an unreadable one is set aside and the run restarts.

    A damaged (or unsafe, or old-format) checkpoint would otherwise fail every re-run until
    someone deleted it by hand: it is renamed beside itself, named in a :class:`RunWarning`,
    and the run starts from its first epoch.
    """
    if not (resume and checkpoint.is_file()):
        return None
    try:
        return load_checkpoint(checkpoint)
    except ValueError as err:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = checkpoint.with_name(f"{checkpoint.name}.unreadable-{stamp}")
        checkpoint.replace(aside)
        warnings.warn(
            f"{err}; set aside as {aside.name}: the run restarts from its first epoch",
            RunWarning,
            stacklevel=2,
        )
        return None
