"""Sweeps: validated spaces, resumable after a kill, pruned trials recorded as pruned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store, StoreError
from bench.sweeps.files import SweepError, load_sweep
from bench.sweeps.search import open_sweep
from scac.config import ConfigError
from scac.testing import small_overrides
from tests.bench.holds import Hold

runner = CliRunner()

TINY = small_overrides(
    "scac",
    {
        "data.synth.train": 24,
        "model.detector_weights": "none",
        "train.batch_size": 4,
        "train.phases.0.epochs": 2,
        "train.phases.1.epochs": 1,
    },
)


def _sweep_file(tmp_path, name="tiny", pruner='kind = "none"', space=None, trials=3) -> str:
    sets = ", ".join(f'"{k}" = {v!r}'.replace("'", '"') for k, v in TINY.items())
    space = space or (
        '"loss.gamma" = { type = "float", low = 0.2, high = 3.0, log = true }\n'
        '"model.context_ratio" = { type = "categorical", choices = [1.0, 3.0, 5.0] }'
    )
    text = (
        f'question = "q?"\nrecipe = "synth"\nmetric = "mAP"\ntrials = {trials}\nholdout = 0.25\n'
        f"set = {{ {sets} }}\n[pruner]\n{pruner}\n[space]\n{space}\n"
    )
    folder = tmp_path / "sweeps"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text)
    return str(folder / f"{name}.toml")


def test_sweep_files_are_validated(tmp_path):
    bad = [
        (
            '"model.context_ratoi" = { type = "float", low = 1.0, high = 2.0 }',
            "unknown config key 'model.context_ratoi'",
        ),
        (
            '"loss.alpha" = { type = "float", low = 2.0, high = 1.0 }',
            "'loss.alpha': low 2.0 > high 1.0",
        ),
        (
            '"loss.alpha" = { type = "float", low = 0.0, high = 1.0, log = true }',
            "log scale needs low > 0",
        ),
        (
            '"loss.alpha" = { type = "normal", low = 0.0, high = 1.0 }',
            "needs type = float, int or categorical",
        ),
        ('"model.fusion" = { type = "categorical", choices = [] }', "non-empty choices"),
    ]
    for i, (space, message) in enumerate(bad):
        with pytest.raises(ConfigError, match=message):
            load_sweep(_sweep_file(tmp_path, f"bad{i}", space=space))
    with pytest.raises(ConfigError, match="unknown sweep 'nope'; known: .*loss_weights"):
        load_sweep("nope")
    with pytest.raises(ConfigError, match="pruner kind 'greedy'"):
        load_sweep(_sweep_file(tmp_path, "p", pruner='kind = "greedy"'))
    for name in ("loss_weights", "context"):
        assert load_sweep(name).space
    for holdout in ("0", "1.0", "-0.1"):  # 0 would score the trials on the test split
        text = (
            open(_sweep_file(tmp_path, "h"))
            .read()
            .replace("holdout = 0.25", f"holdout = {holdout}")
        )
        (tmp_path / "sweeps" / "h.toml").write_text(text)
        with pytest.raises(ConfigError, match=r"holdout must be in \(0, 1\)"):
            load_sweep(str(tmp_path / "sweeps" / "h.toml"))


def test_same_name_with_another_space_is_refused(tmp_path):
    storage = str(tmp_path / "journal.log")
    open_sweep(load_sweep(_sweep_file(tmp_path, "same")), storage)
    other = _sweep_file(
        tmp_path, "same", space='"loss.beta" = { type = "float", low = 0.5, high = 2.0 }'
    )
    with pytest.raises(
        SweepError, match="another search space; to start a new one, copy the sweep file"
    ):
        open_sweep(load_sweep(other), storage)


def test_unreachable_storage_names_the_url_without_password(tmp_path):
    with pytest.raises(
        StoreError,
        match=r"cannot reach Optuna storage postgresql\+psycopg://me:\*\*\*@127.0.0.1:9/x",
    ):
        open_sweep(
            load_sweep(_sweep_file(tmp_path)), "postgresql+psycopg://me:secret@127.0.0.1:9/x"
        )


def _trials(storage: str, name: str) -> list:
    return optuna.load_study(
        study_name=f"bench-sweep:{name}",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage)),
    ).get_trials(deepcopy=False)


def test_killed_sweep_resumes_to_its_trial_count(tmp_path, spawn):
    path, storage, store = (
        _sweep_file(tmp_path, "resume"),
        str(tmp_path / "j.log"),
        str(tmp_path / "s.sqlite"),
    )
    args = ["sweep", path, "--storage", storage, "--store", store, "--device", "cpu"]
    hold = Hold(tmp_path / "hold", free=1)  # the first trial's run goes on, the second waits
    proc = spawn(
        [sys.executable, "-m", "bench.cli.main", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **hold.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    hold.wait_for(1, proc)
    states = [t.state for t in _trials(storage, "resume")]
    assert TrialState.COMPLETE in states and TrialState.RUNNING in states
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    states = [t.state for t in _trials(storage, "resume")]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3
    assert states.count(TrialState.FAIL) == 1  # the killed trial, failed when the sweep resumed
    runs = Store(store).list_runs(study="sweep:resume")
    assert sum(r["status"] == "finished" for r in runs) == 3
    assert sum(r["status"] == "interrupted" for r in runs) == 1
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and len(_trials(storage, "resume")) == 4  # nothing left to do


def test_pruned_trials_are_recorded_as_pruned(tmp_path):
    path = _sweep_file(tmp_path, "prune", pruner='kind = "threshold"\nlower = 101.0', trials=2)
    storage, store = str(tmp_path / "j.log"), str(tmp_path / "s.sqlite")
    result = runner.invoke(
        app, ["sweep", path, "--storage", storage, "--store", store, "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert [t.state for t in _trials(storage, "prune")] == [TrialState.PRUNED, TrialState.PRUNED]
    runs = Store(store).list_runs(study="sweep:prune")
    assert [r["status"] for r in runs] == ["pruned", "pruned"]
    assert all("pruned after epoch 1" in r["error"] for r in runs)


def test_report_and_test_of_the_best_trial(tmp_path):
    path, storage, store = (
        _sweep_file(tmp_path, "rep", trials=2),
        str(tmp_path / "j.log"),
        str(tmp_path / "s.sqlite"),
    )
    common = ["--storage", storage, "--store", store]
    board = ["--tensorboard", str(tmp_path / "tb")]
    assert runner.invoke(app, ["sweep", path, *common, *board, "--device", "cpu"]).exit_code == 0
    assert len(list((tmp_path / "tb").glob("sweep_rep/trial_*/seed*/events.*"))) == 2
    rep = runner.invoke(app, ["sweep", "report", path, *common, "--out", str(tmp_path / "plots")])
    assert rep.exit_code == 0, rep.output
    assert (
        "best trials" in rep.output and (tmp_path / "plots" / "history.png").stat().st_size > 10_000
    )
    test = runner.invoke(app, ["sweep", "test", path, *common, "--device", "cpu"])
    assert test.exit_code == 0, test.output
    (final,) = [r for r in Store(store).list_runs(study="sweep:rep") if r["arm"].startswith("test")]
    assert final["status"] == "finished" and final["config"]["data"]["holdout"] == 0.0
    trials = [r for r in Store(store).list_runs(study="sweep:rep") if r["arm"].startswith("trial")]
    assert all(r["config"]["data"]["holdout"] == 0.25 for r in trials)
