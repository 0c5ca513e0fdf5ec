"""A study killed mid-run leaves a consistent store; the re-run does only what is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.store import Store

STUDY = """question = "Does a killed study resume?"
recipe = "synth"
seeds = [0]
[[arms]]
name = "a"
reason = "first"
set = { "model.context_ratio" = 1.0 }
[[arms]]
name = "b"
reason = "second"
set = { "model.context_ratio" = 2.0 }
[[arms]]
name = "c"
reason = "third"
set = { "model.context_ratio" = 3.0 }
"""
# smoke size, with enough steps that a run lasts a few seconds
SETS = [
    "--set",
    "data.synth.train=48",
    "--set",
    "data.synth.val=8",
    "--set",
    "train.phases.0.epochs=4",
]


def _start(tmp_path, store):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.cli.main",
            "run",
            "study",
            str(tmp_path / "k.toml"),
            "--smoke",
            "--store",
            store,
            *SETS,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(store: Store, predicate, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"study ended before the kill: {proc.stdout.read()}")
        try:
            if predicate({r["arm"]: r["status"] for r in store.list_runs()}):
                return
        except Exception:  # noqa: BLE001 - the first process may still be creating tables
            pass
        time.sleep(0.2)
    pytest.fail("the study never reached the state to kill it in")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_study_resumes_with_only_the_missing_runs(tmp_path, sig):
    (tmp_path / "k.toml").write_text(STUDY)
    path = str(tmp_path / "s.sqlite")
    proc = _start(tmp_path, path)
    store = Store(path)
    _wait_for(store, lambda s: s.get("a") == "finished" and s.get("b") == "running", proc)
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    status = {r["arm"]: r for r in store.list_runs()}
    assert status["a"]["status"] == "finished" and status["a"]["attempts"] == 1
    assert status["c"]["status"] == "pending" and status["c"]["attempts"] == 0
    if sig == signal.SIGINT:
        assert code == 130 and status["b"]["status"] == "interrupted"
    else:
        assert code == -signal.SIGKILL and status["b"]["status"] == "running"
    finished_a = status["a"]["updated_at"]

    rerun = _start(tmp_path, path)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert "1 already finished, 2 to run" in out
    status = {r["arm"]: r for r in store.list_runs()}
    assert all(r["status"] == "finished" for r in status.values())
    assert status["a"]["attempts"] == 1 and status["a"]["updated_at"] == finished_a  # untouched
    assert status["b"]["attempts"] == 2 and status["c"]["attempts"] == 1
