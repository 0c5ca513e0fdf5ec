"""Results as data: runs and curves as DataFrames, exported, read without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.api import open_store
from bench.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory, finished_smoke) -> str:
    return finished_smoke(tmp_path_factory.mktemp("api"))


def test_runs_are_a_frame_of_flat_columns(store):
    runs = open_store(store).runs(study="context_ratio")
    assert len(runs) == 5 and set(runs["state"]) == {"finished"}
    assert {"config.model.context_ratio", "metrics.mAP", "ap.ball", "provenance.numerics.path"} <= (
        set(runs.columns)
    )
    assert sorted(runs["config.model.context_ratio"]) == [1.0, 3.0, 5.0, 7.0, 10.0]
    assert runs["smoke"].all() and list(runs.columns[:3]) == ["run_key", "study", "variant"]
    assert open_store(store).runs(study="context_ratio", smoke=False).empty


def test_curves_and_predictions(store):
    api = open_store(store)
    key = api.runs(study="context_ratio")["run_key"][0]
    curves = api.history([key])
    assert {"loss", "lr"} <= set(curves["name"]) and (curves["run_key"] == key).all()
    preds = api.predictions(key)
    assert preds.scores.shape == preds.targets.shape


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_export_writes_the_same_table(store, tmp_path, suffix):
    out = tmp_path / f"runs.{suffix}"
    result = runner.invoke(
        app, ["results", "export", str(out), "--study", "context_ratio", "--store", store]
    )
    assert result.exit_code == 0, result.output
    back = pd.read_csv(out) if suffix == "csv" else pd.read_json(out, lines=True)
    assert len(back) == 5 and "metrics.mAP" in back.columns
    bad = runner.invoke(app, ["results", "export", str(tmp_path / "x.xlsx"), "--store", store])
    assert bad.exit_code == 2 and "export format must be one of" in bad.output


def test_a_notebook_reads_the_store_without_torch(store):
    code = (
        "import json, sys\n"
        "from bench.api import open_store\n"
        f"shape = open_store({store!r}).runs(study='context_ratio').shape\n"
        "print(json.dumps({'shape': shape, 'torch': 'torch' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["shape"][0] == 5 and result["torch"] is False
