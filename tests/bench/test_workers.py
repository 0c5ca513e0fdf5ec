"""Many workers on one study through Optuna's storage: no run done twice, none lost.

The journal-file storage is tested always; set BENCH_TEST_PG_URL (e.g.
``postgresql+psycopg://bench@localhost/bench``) to run the same checks on PostgreSQL, results
store and Optuna storage sharing that one database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from bench.queue import RunQueue, open_storage, queue_name
from bench.store import Store
from bench.studies import load_study
from bench.worker import enqueue_study, gpu_assignments, work

STUDY = """question = "Do workers share a study?"
recipe = "synth"
seeds = [0, 1]
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
SMALL = {"data.synth.train": 24, "data.synth.val": 8}
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


def test_three_workers_run_a_six_run_study_once_each(tmp_path, backend):
    store, storage = backend
    path = _study_file(tmp_path)
    sets = [a for k, v in SMALL.items() for a in ("--set", f"{k}={v}")]
    common = ["--storage", storage, "--store", store, *sets]
    done = subprocess.run(
        _cli(*f"run study {path} --smoke --workers 3 --device cpu".split(), *common),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = Store(store).list_runs(study="w")
    assert len(runs) == 6 and all(r["status"] == "finished" for r in runs)
    assert [r["attempts"] for r in runs] == [1] * 6
    q = RunQueue(open_storage(storage), queue_name("w", smoke=True))
    assert q.counts() == {"COMPLETE": 6}
    keys = [t.user_attrs["run_key"] for t in q.study.get_trials(deepcopy=False)]
    assert sorted(keys) == sorted(r["run_key"] for r in runs)  # each run once
    assert "3 workers" in done.stdout and done.stdout.count("worker done:") == 3
    # the table follows; a second call finds nothing left to enqueue
    again = subprocess.run(
        _cli(*f"run study {path} --smoke --workers 2 --device cpu".split(), *common),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "0 enqueued" in again.stdout, again.stdout + again.stderr
    assert q.counts() == {"COMPLETE": 6}


def test_a_killed_workers_run_is_finished_by_another(tmp_path, backend):
    store, storage = backend
    study = load_study(_study_file(tmp_path))
    overrides = {**SMALL, "train.phases.0.epochs": 6}  # long enough to be killed mid-run
    name, total, added = enqueue_study(
        study, Store(store), storage, smoke=True, seeds=(0,), overrides=overrides
    )
    assert (total, added) == (3, 3)
    victim = subprocess.Popen(
        _cli("worker", "--storage", storage, "--queue", name, "--store", store, "--device", "cpu"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline, running = time.time() + 240, None
    while time.time() < deadline and running is None:
        assert victim.poll() is None, victim.communicate()[0]
        try:
            running = next(
                (r for r in Store(store).list_runs(study="w") if r["status"] == "running"), None
            )
        except Exception:  # noqa: BLE001 - tables may still be in the making
            pass
        time.sleep(0.2)
    assert running is not None, "the worker never started a run"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    report = work(storage, Store(store), queue=name, device="cpu", wait=True, poll=0.2)

    runs = {r["run_key"]: r for r in Store(store).list_runs(study="w")}
    assert all(r["status"] == "finished" for r in runs.values())
    assert runs[running["run_key"]]["attempts"] == 2  # killed once, then finished by the survivor
    assert sorted(r["attempts"] for r in runs.values()) == [1, 1, 2]
    assert running["run_key"] in report.finished and not report.failed
    counts = RunQueue(open_storage(storage), name).counts()
    assert counts == {"COMPLETE": 3, "FAIL": 1}  # the killed try, failed and re-enqueued


def test_one_worker_per_visible_gpu(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert gpu_assignments(3) == ["2", "5", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert gpu_assignments(2) == [None, None]
