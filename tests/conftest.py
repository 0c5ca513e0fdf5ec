"""Shared fixtures: an isolated cache and store per test session, tiny datasets and configs."""

from __future__ import annotations

import scac  # noqa: F401 - first: it sets the default numerics path before torch loads

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from scac.config import load_recipe, with_overrides
from scac.testing import small_overrides

ROOT = Path(__file__).resolve().parents[1]

# The recipe's [smoke] shrunk further: a few images, one step per phase, no pretraining.
TINY = small_overrides(
    "scac",
    {
        "model.detector_weights": "none",
        "train.batch_size": 4,
        "train.eval_batch_size": 8,
        "train.phases.0.epochs": 1,
        "train.phases.1.epochs": 1,
    },
)


def as_set_options(overrides: dict) -> list[str]:
    """``--set key=value`` options (values as TOML literals) for the command line."""
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v)}")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Every test gets the session's private cache; no test touches ~/.cache or ./results."""
    cache = tmp_path_factory.getbasetemp() / "scac-cache"
    monkeypatch.setenv("SCAC_CACHE", str(cache))
    monkeypatch.setenv("BENCH_STUDIES", str(ROOT / "studies"))
    monkeypatch.delenv("BENCH_STORE", raising=False)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


def _global_random_state() -> tuple:
    return (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


@pytest.fixture(autouse=True)
def _no_leaking_rng(request):
    """A test that leaves the global random generators changed fails (torchvision's
    ``prevent_leaking_rng``, strict): a leak would make later tests depend on the order they run
    in. Tests that draw random weights or inputs from the global generators on purpose say so
    with ``@pytest.mark.own_rng`` (or ``pytestmark``) and run inside their own fork of them."""
    if request.node.get_closest_marker("own_rng"):
        python, numpy = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            yield
        random.setstate(python)
        np.random.set_state(numpy)
        return
    before = _global_random_state()
    yield
    after = _global_random_state()
    same = (torch.equal(before[0], after[0]), np.array_equal(before[1], after[1]))
    leaked = [
        n
        for n, ok in zip(("torch", "numpy", "random"), (*same, before[2] == after[2]), strict=True)
        if not ok
    ]
    assert not leaked, (
        f"the test changed the global random state of {', '.join(leaked)}: draw from a "
        "generator of its own, or mark it own_rng"
    )


@pytest.fixture
def tiny_config():
    """The synthetic recipe at test size."""
    return with_overrides(load_recipe(ROOT / "studies" / "recipes" / "synth.toml"), TINY)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic dataset on disk (COCO format), shared by the session."""
    from scac.data.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), seed=3, train=40, val=20)


@pytest.fixture(scope="session")
def finished_smoke(tmp_path_factory):
    """``copy(folder) -> store``: a private copy of a store holding the smoke study
    ``context_ratio`` finished (5 tiny runs with their predictions, curves and intervals),
    trained once per session; every caller gets its own files, free to damage them."""
    from typer.testing import CliRunner

    from bench.cli.main import app

    done = tmp_path_factory.mktemp("finished-smoke")
    with pytest.MonkeyPatch.context() as env:  # the session's cache, as every test has it
        env.setenv("SCAC_CACHE", str(tmp_path_factory.getbasetemp() / "scac-cache"))
        env.setenv("BENCH_STUDIES", str(ROOT / "studies"))
        env.delenv("BENCH_STORE", raising=False)
        args = ["run", "study", "context_ratio", "--smoke", "--store", str(done / "s.sqlite")]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with contextlib.closing(sqlite3.connect(done / "s.sqlite")) as db:  # the WAL into the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def copy(folder: Path) -> str:
        shutil.copytree(done, folder, dirs_exist_ok=True)
        return str(folder / "s.sqlite")

    return copy


@pytest.fixture
def spawn():
    """``spawn(args, **popen_options)``: start a command the test owns, in a process group of
    its own. Whatever of the group still runs when the test ends (a held run of a failed test,
    the workers it started) is killed, so no process outlives its test."""
    started: list[subprocess.Popen] = []

    def start(args, **options) -> subprocess.Popen:
        proc = subprocess.Popen(args, start_new_session=True, **options)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group outlives its leader: orphans too
        proc.wait()
