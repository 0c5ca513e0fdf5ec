"""TensorBoard event files: folder names, exports equal to the store's curves, the live writer."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from bench.store import Store  # noqa: E402
from bench.store.owner import Owner  # noqa: E402
from bench.telemetry.history import HistoryRecorder  # noqa: E402
from bench.telemetry.tensorboard import (  # noqa: E402
    TensorBoardWriter,
    export_runs,
    require_tensorboard,
    run_logdir,
)
from scac import RunWarning  # noqa: E402
from scac.cache import default_cache_dir  # noqa: E402
from scac.config import PhaseConfig, load_recipe, with_overrides  # noqa: E402
from scac.engine.callbacks import Callbacks  # noqa: E402
from scac.engine.run import RunOptions, run_experiment  # noqa: E402
from tests.bench.test_history import SETS, eval_value  # noqa: E402

KEY = "666852f699abcdef"
METRICS = {"mAP": 61.25, "CF1": None, "OF1": 70.5}


def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Tag -> (step, value) of every scalar event in ``logdir``, as TensorBoard reads them."""
    ea = EventAccumulator(str(logdir))
    ea.Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()["scalars"]}


def _curve(rows) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for r in sorted(rows, key=lambda r: r["step"]):
        out.setdefault(r["name"], []).append((r["step"], r["value"]))
    return out


def _assert_same(got, want) -> None:
    assert set(got) == set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        assert [v for _, v in got[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag


def _finished_run(store: Store, key: str, history: bool = True) -> None:
    """A finished member of study ``context_ratio`` (arm ``ratio 5.0``, seed 0), its curve."""
    store.link("context_ratio", "ratio 5.0", 0, key, "scac", {"seed": 0})
    owner = Owner.this_process()
    store.claim(key, owner, git_commit=None, versions={}, device="cpu")
    if history:
        terms = (("loss", 1.5), ("lr", 1e-3), ("loss/Lr", 0.3))
        rows = [
            {"step": s, "epoch": 1 + (s > 4), "phase": "joint", "name": n, "value": v * s}
            for s in (2, 4, 6, 8)
            for n, v in terms
        ]
        ends = (("epoch_loss", 3.0), ("val/mAP", 40.0))
        rows += [
            {"step": s, "epoch": s // 4, "phase": "joint", "name": n, "value": v + s / 7}
            for s in (4, 8)
            for n, v in ends
        ]
        store.add_history(key, 1, rows)
    store.finish(key, owner, metrics=METRICS, per_class_ap={}, wall_seconds=1.0)


def test_folders_are_named_by_study_arm_seed_and_key(tmp_path):
    def at(**kw):
        return run_logdir(tmp_path, **{"study": None, "arm": None, "seed": None, **kw})

    folder = at(study="context_ratio", arm="ratio 5.0", seed=0, run_key=KEY)
    assert folder == tmp_path / "context_ratio" / "ratio_5.0" / "seed0-666852f699"
    assert folder == at(study="context_ratio", arm="ratio 5.0", seed=0, run_key=KEY)
    assert at(run_key=KEY) == tmp_path / "runs" / "666852f699"
    variant = at(study="s", arm="a", seed=1, run_key=KEY, variant="model.fusion=max, lr=1e-3")
    assert variant.relative_to(tmp_path).parts[0] == "s@model.fusion=max,_lr=1e-3"
    odd = at(study="sweep:x/y", arm="..", seed=2, run_key=KEY)
    assert odd.relative_to(tmp_path).parts == ("sweep_x_y", "_.", "seed2-666852f699")
    long_a, long_b = (at(study="s", arm="a" * 300 + end, seed=0, run_key=KEY) for end in "xy")
    assert len(long_a.parent.name) <= 100 and long_a != long_b


def test_export_equals_the_store_and_a_reexport_replaces_it(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    _finished_run(store, KEY)
    root = tmp_path / "tb"
    (folder,) = export_runs(store, [KEY[:6]], root)
    assert folder == run_logdir(root, study="context_ratio", arm="ratio 5.0", seed=0, run_key=KEY)
    want = _curve(store.history([KEY]))
    want |= {"final/mAP": [(8, 61.25)], "final/OF1": [(8, 70.5)]}  # CF1 None: not written
    _assert_same(_scalars(folder), want)
    assert export_runs(store, [store.get(KEY)], root) == [folder]
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    _assert_same(_scalars(folder), want)  # not doubled


def test_export_writes_each_membership_and_tells_a_run_without_curve(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    _finished_run(store, KEY, history=False)
    store.link("other", "x", 3, KEY, "scac", {"seed": 0}, variant="v")
    with pytest.warns(RunWarning, match="no training curve.*final metrics alone"):
        folders = export_runs(store, [KEY], tmp_path)
    assert [f.relative_to(tmp_path).parts[:2] for f in folders] == [
        ("context_ratio", "ratio_5.0"),
        ("other@v", "x"),
    ]
    for folder in folders:
        _assert_same(_scalars(folder), {"final/mAP": [(0, 61.25)], "final/OF1": [(0, 70.5)]})
    (row,) = store.list_runs(study="other")  # a row: its own membership only
    with pytest.warns(RunWarning):
        assert export_runs(store, [row], tmp_path) == [folders[1]]
    store.link("s", "a", 0, "pending0", "scac", {})
    with pytest.warns(RunWarning, match="nothing"):
        assert export_runs(store, ["pending0"], tmp_path) == []


def test_live_writer_on_a_tiny_run_writes_what_the_history_records(tmp_path):
    recipe = load_recipe(Path(__file__).parents[2] / "studies" / "recipes" / "synth.toml")
    cfg = with_overrides(recipe, {k: eval_value(v) for k, v in SETS.items()})
    cfg = with_overrides(cfg, {"train.phases.0.epochs": 1, "train.phases.1.epochs": 1})
    store = Store(str(tmp_path / "s.sqlite"))
    store.link("s", "a", 0, KEY, "scac", {})
    logdir = tmp_path / "tb" / "run"
    writer = TensorBoardWriter(HistoryRecorder(Callbacks(), store, KEY, 1), logdir)
    opts = RunOptions(device="cpu", callbacks=writer, validate_every_epoch=True)
    run_experiment(cfg, artifacts_dir=tmp_path / "a", cache_dir=default_cache_dir(), options=opts)
    writer.close()
    want = _curve(store.history([KEY]))
    assert {"loss", "loss/Lr", "lr", "epoch_loss", "val/mAP"} <= set(want)
    _assert_same(_scalars(logdir), want)


def _log(writer: TensorBoardWriter, steps, scale: float) -> None:
    phase = PhaseConfig(name="joint")
    for s in steps:
        writer.on_step(phase, 0, s, 1.0)
        if s % 2 == 0:
            writer.on_log(phase, 1, s, {"loss": scale * s})
    writer.on_epoch_end(phase, 0, scale)


def test_a_resumed_run_replaces_the_steps_it_repeats_and_a_fresh_one_starts_over(tmp_path):
    first = TensorBoardWriter(Callbacks(), tmp_path)
    _log(first, range(1, 7), 1.0)  # killed after step 6; its checkpoint was at step 3
    first.close()
    resumed = TensorBoardWriter(Callbacks(), tmp_path, fresh=False)
    _log(resumed, range(4, 9), 10.0)
    resumed.close()
    got = _scalars(tmp_path)
    assert got["loss"] == [(2, 2.0), (4, 40.0), (6, 60.0), (8, 80.0)]
    assert got["epoch_loss"] == [(8, 10.0)]  # the first attempt's, at step 6, purged
    again = TensorBoardWriter(Callbacks(), tmp_path)
    _log(again, range(1, 3), 5.0)
    again.close()
    assert _scalars(tmp_path) == {"loss": [(2, 10.0)], "epoch_loss": [(2, 5.0)]}


class _Seen(Callbacks):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_log(self, phase, epoch, step, values) -> None:
        self.calls.append("log")

    def on_epoch_end(self, phase, epoch, mean_loss) -> None:
        self.calls.append("epoch")


def test_an_unwritable_folder_warns_once_and_the_run_goes_on(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    inner = _Seen()
    writer = TensorBoardWriter(inner, tmp_path / "file" / "tb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _log(writer, range(1, 5), 1.0)
        writer.close()
    assert [w.category for w in caught] == [RunWarning]
    assert "not written" in str(caught[0].message)
    assert inner.calls == ["log", "log", "epoch"]


def test_without_the_package_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ValueError, match=r"pip install 'scac-bench\[tensorboard\]'"):
        require_tensorboard()
    with pytest.raises(ValueError, match="needs the tensorboard package"):
        TensorBoardWriter(Callbacks(), Path("unused"))
