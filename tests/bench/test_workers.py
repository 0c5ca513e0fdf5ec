"""Many workers on one study through Optuna's storage: no run done twice, none lost, no hang.

The journal-file storage is tested always; set BENCH_TEST_PG_URL (e.g.
``postgresql+psycopg://bench@localhost/bench``) to run the same checks on PostgreSQL, results
store and Optuna storage sharing that one database. Kills land at a point the run layer
announces (``tests/bench/holds.py``), not after a poll that races the workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import sqlalchemy as sa

from bench.runs.claimed import RunContext
from bench.runs.parallel import gpu_assignments
from bench.runs.plan import plan_study
from bench.runs.queue import RunQueue, open_storage, queue_name
from bench.runs.workers import enqueue_plan, work
from bench.store import Store
from bench.studies.files import load_study
from scac.predictions import Predictions
from tests.bench.holds import Hold

STUDY = """question = "Do workers share a study?"
recipe = "synth"
seeds = [0, 1]
set = { "data.synth.train" = 16, "data.synth.val" = 8 }
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
PG_URL = os.environ.get("BENCH_TEST_PG_URL")


def _fresh_pg(url: str) -> None:
    """Empty the test database: the store's tables and Optuna's."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["journal", "postgresql"])
def backend(request, tmp_path):
    """(results store URL or path, Optuna storage URL or path) for one backend."""
    if request.param == "journal":
        return str(tmp_path / "s.sqlite"), str(tmp_path / "optuna-journal.log")
    if not PG_URL:
        pytest.skip("set BENCH_TEST_PG_URL to test workers on PostgreSQL")
    _fresh_pg(PG_URL)
    return PG_URL, PG_URL


def _study_file(tmp_path) -> str:
    path = tmp_path / "w.toml"
    path.write_text(STUDY)
    return str(path)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli.main", *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_POLL": "0.2", **extra}


def test_three_workers_run_a_six_run_study_once_each(tmp_path, backend):
    store, storage = backend
    path = _study_file(tmp_path)
    common = ["--storage", storage, "--store", store]
    done = subprocess.run(
        _cli(*f"run study {path} --smoke --workers 3 --device cpu".split(), *common),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = Store(store).list_runs(study="w")
    assert len(runs) == 6 and all(r["state"] == "finished" for r in runs)
    assert [r["attempts"] for r in runs] == [1] * 6
    q = RunQueue(open_storage(storage), queue_name("w", smoke=True))
    assert q.counts() == {"COMPLETE": 6}
    keys = [t.user_attrs["run_key"] for t in q.study.get_trials(deepcopy=False)]
    assert sorted(keys) == sorted(r["run_key"] for r in runs)  # each run once
    assert "3 workers" in done.stdout and done.stdout.count("worker done:") == 3
    # the table follows; a second call finds nothing left to enqueue
    again = subprocess.run(
        _cli(*f"run study {path} --smoke --workers 2 --device cpu".split(), *common),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "0 enqueued" in again.stdout, again.stdout + again.stderr
    assert q.counts() == {"COMPLETE": 6}


@pytest.mark.slow  # about 20 s per backend; test_a_killed_workers_run_is_finished_by_another stays
def test_killing_a_worker_other_than_the_first_never_hangs_the_command(tmp_path, backend, spawn):
    """Issue 15: the coordinator waited on the first worker while a killed one stayed a zombie
    that a liveness check by signal 0 counted as alive: the command waited forever."""
    store, storage = backend
    path = _study_file(tmp_path)
    hold = Hold(tmp_path / "hold")  # every run waits once claimed, until released
    proc = spawn(
        _cli(*f"run study {path} --smoke --seeds 0 --workers 2 --device cpu".split(),
             "--storage", storage, "--store", store),
        env=_env(**hold.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    held = dict([hold.wait_for(0, proc), hold.wait_for(1, proc)])  # each worker holds a run
    assert len(held) == 2
    victim = max(held)  # the later-started worker: the old coordinator waited on the first
    victim_key = held[victim]
    os.kill(victim, signal.SIGKILL)
    hold.release()
    out, _ = proc.communicate(timeout=600)  # returns: no hang
    assert proc.returncode == 0, out
    assert f"worker {victim} exited with code -9" in out
    runs = {r["run_key"]: r for r in Store(store).list_runs(study="w")}
    assert all(r["state"] == "finished" for r in runs.values())
    assert runs[victim_key]["attempts"] == 2  # killed once, then finished by the survivor
    assert sorted(r["attempts"] for r in runs.values()) == [1, 1, 2]


def test_a_killed_workers_run_is_finished_by_another(tmp_path, backend, spawn):
    store, storage = backend
    plan = plan_study(load_study(_study_file(tmp_path)), smoke=True, seeds=(0,))
    name, total, added = enqueue_plan(plan, Store(store), storage)
    assert (total, added) == (3, 3)
    hold = Hold(tmp_path / "hold")
    victim = spawn(
        _cli("worker", "--storage", storage, "--queue", name, "--store", store, "--device", "cpu"),
        env=_env(**hold.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pid, running = hold.wait_for(0, victim)
    assert pid == victim.pid
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    hold.release()

    report = work(storage, Store(store), RunContext(device="cpu", poll=0.2), queue=name)

    runs = {r["run_key"]: r for r in Store(store).list_runs(study="w")}
    assert all(r["state"] == "finished" for r in runs.values())
    assert runs[running]["attempts"] == 2  # killed once, then finished by the survivor
    assert sorted(r["attempts"] for r in runs.values()) == [1, 1, 2]
    assert running in report.finished and not report.failed
    counts = RunQueue(open_storage(storage), name).counts()
    assert counts == {"COMPLETE": 3, "FAIL": 1}  # the killed try, failed and re-enqueued


@pytest.mark.slow  # 23 s: two worker processes and a sequential run of the same study
def test_workers_give_the_numbers_of_a_sequential_run(tmp_path):
    """Issue 15: one thread per worker gave other numbers than two threads in sequence, under
    the same run keys. The thread count is now fixed per run (``train.cpu_threads``, 1 by
    default), so two workers side by side compute what one process computes in sequence."""
    path = _study_file(tmp_path)
    args = f"run study {path} --smoke --seeds 0 --device cpu".split()
    seq, par = str(tmp_path / "seq" / "s.sqlite"), str(tmp_path / "par" / "s.sqlite")
    one = subprocess.run(_cli(*args, "--store", seq), env=_env(), capture_output=True, text=True)
    assert one.returncode == 0, one.stdout + one.stderr
    two = subprocess.run(
        _cli(*args, "--workers", "2", "--store", par), env=_env(), capture_output=True, text=True
    )
    assert two.returncode == 0, two.stdout + two.stderr
    a = {r["run_key"]: r for r in Store(seq).list_runs()}
    b = {r["run_key"]: r for r in Store(par).list_runs()}
    assert a.keys() == b.keys() and len(a) == 3
    for key in a:
        assert a[key]["metrics"] == b[key]["metrics"]
        assert a[key]["provenance"]["numerics"]["threads"] == 1
        assert b[key]["provenance"]["numerics"]["threads"] == 1
        pa, pb = (Predictions.load(f"{r[key]['artifacts']}/predictions.npz") for r in (a, b))
        assert np.array_equal(pa.scores, pb.scores)


def test_one_worker_per_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert gpu_assignments(3) == ["2", "5", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_assignments(2) == [None, None]
