"""Bootstrap intervals kept beside the runs: reused when their inputs are the same, never
trusted when the file is not what was written, recomputed when a predictions file changes."""

from __future__ import annotations

import os

import pytest

import bench.comparisons.paired as compare
from bench.comparisons.paired import compare_runs
from bench.store import Store
from tests.bench.test_tables import SYNTH, add_run


@pytest.fixture
def pair(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    for arm, strength in (("a", 0.5), ("b", 0.1)):
        for seed in (0, 1):
            add_run(store, f"{arm}{seed}cccccccc", SYNTH, strength=strength, seed=seed, arm=arm)
    runs = [store.get(f"a{s}cccccccc") for s in (0, 1)]
    ref = [store.get(f"b{s}cccccccc") for s in (0, 1)]
    return runs, ref, tmp_path / "comparisons"


def _no_bootstrap(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the bootstrap ran: the stored interval was not used")

    monkeypatch.setattr(compare, "replicate_metric", fail)
    monkeypatch.setattr(compare, "_REPLICATES", {})  # and nothing memoised in this process


def test_a_stored_interval_is_reused_and_equal(pair, monkeypatch):
    runs, ref, cache = pair
    fresh = compare_runs(runs, ref, n_boot=200)
    first = compare_runs(runs, ref, n_boot=200, cache=cache)
    assert first == fresh and len(list(cache.glob("*.json"))) == 1
    _no_bootstrap(monkeypatch)
    assert compare_runs(runs, ref, n_boot=200, cache=cache) == fresh
    with pytest.raises(AssertionError, match="the bootstrap ran"):  # other settings: other key
        compare_runs(runs, ref, n_boot=201, cache=cache)


def test_a_rewritten_predictions_file_is_compared_again(pair):
    runs, ref, cache = pair
    compare_runs(runs, ref, n_boot=100, cache=cache)
    path = os.path.join(runs[0].artifacts, "predictions.npz")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    compare_runs(runs, ref, n_boot=100, cache=cache)
    assert len(list(cache.glob("*.json"))) == 2


@pytest.mark.parametrize(
    "text", ["", "{", '{"ci": 1}', '{"ci": {"metric": "mAP", "delta": "nan"}}', "[1, 2]"]
)
def test_a_damaged_file_is_ignored_and_replaced(pair, text):
    runs, ref, cache = pair
    fresh = compare_runs(runs, ref, n_boot=100, cache=cache)
    (stored,) = cache.glob("*.json")
    stored.write_text(text)
    assert compare_runs(runs, ref, n_boot=100, cache=cache) == fresh
    assert stored.read_text() != text  # written again, whole


def test_an_unwritable_folder_only_costs_time(pair, tmp_path):
    runs, ref, _ = pair
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    assert compare_runs(runs, ref, n_boot=100, cache=blocked / "c") == compare_runs(
        runs, ref, n_boot=100
    )
