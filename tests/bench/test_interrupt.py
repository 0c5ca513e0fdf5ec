"""A study killed mid-run leaves a consistent store; the re-run does only what is missing.

The signal lands at a point the run layer announces (a ``Hold``: the second run waits,
claimed, until released), never after a poll that races the code under test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bench.store import Store
from tests.bench.holds import Hold

STUDY = """question = "Does a killed study resume?"
recipe = "synth"
seeds = [0]
set = { "data.synth.train" = 12, "data.synth.val" = 8 }
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


def _start(spawn, tmp_path, store, env=None):
    return spawn(
        [sys.executable, "-m", "bench.cli.main", "run", "study", str(tmp_path / "k.toml"),
         "--smoke", "--store", store],
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    """Ctrl-C as a terminal sends it: a shell starts background jobs (``pytest &``, nohup) with
    SIGINT ignored, and the child would inherit that and never see the signal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ended(proc: subprocess.Popen, timeout: float = 120) -> int:
    """The exit code; a process still alive after ``timeout`` s fails the test with every
    thread's stack (faulthandler prints them on SIGABRT), so a hang says where it hangs."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"still running {timeout} s after the signal:\n{out[-6000:]}")


@pytest.mark.parametrize(
    "sig",
    [pytest.param(signal.SIGKILL, marks=pytest.mark.slow), signal.SIGINT],  # SIGKILL: 14 s
    ids=["SIGKILL", "SIGINT"],
)
def test_killed_study_resumes_with_only_the_missing_runs(tmp_path, sig, spawn):
    (tmp_path / "k.toml").write_text(STUDY)
    path = str(tmp_path / "s.sqlite")
    hold = Hold(tmp_path / "hold", free=1)  # run a goes on, run b waits, claimed
    proc = _start(spawn, tmp_path, path, hold.env)
    pid, key_b = hold.wait_for(1, proc)
    assert pid == proc.pid
    proc.send_signal(sig)
    code = _ended(proc)
    status = {r["arm"]: r for r in Store(path).list_runs()}
    assert status["a"]["state"] == "finished" and status["a"]["attempts"] == 1
    assert status["b"]["run_key"] == key_b
    assert status["c"]["state"] == "pending" and status["c"]["attempts"] == 0
    if sig == signal.SIGINT:
        assert code == 130 and status["b"]["state"] == "interrupted"
    else:  # recorded as running, its process gone: listed as stale, never as running
        assert code == -signal.SIGKILL and status["b"]["state"] == "stale"
    finished_a = status["a"]["updated_at"]

    rerun = _start(spawn, tmp_path, path)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert "3 runs, 1 already finished, 2 to run" in out
    status = {r["arm"]: r for r in Store(path).list_runs()}
    assert all(r["state"] == "finished" for r in status.values())
    assert status["a"]["attempts"] == 1 and status["a"]["updated_at"] == finished_a  # untouched
    assert status["b"]["attempts"] == 2 and status["c"]["attempts"] == 1
