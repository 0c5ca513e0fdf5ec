"""Training curves in the store: what a run logs, that logging changes no number, the plots."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.plots.curves import curves
from bench.store import Store
from bench.studies.selection import study_runs
from scac.cache import default_cache_dir
from scac.config import load_recipe, with_overrides
from scac.engine.run import RunOptions, log_interval, run_experiment
from scac.predictions import Predictions
from tests.bench.test_tables import study_store  # noqa: F401 - fixture
from tests.bench.test_train_cli import TINY

runner = CliRunner()
SETS = dict(t.split("=", 1) for t in TINY[1:-2:2])  # TINY: --set k=v ... --device cpu


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("hist") / "s.sqlite")
    result = runner.invoke(app, ["train", "synth", *TINY, "--store", store])
    assert result.exit_code == 0, result.output
    (row,) = Store(store).list_runs()
    return store, row["run_key"]


def test_every_run_logs_its_terms_rate_norm_and_speed(trained):
    store, key = trained
    rows = Store(store).history([key])
    names = {r["name"] for r in rows}
    terms = {"loss/rpn_objectness", "loss/rpn_box", "loss/Lr", "loss/Lp"}
    terms |= {"loss/Ll_obj", "loss/Ll_ctx"}
    assert {"loss", "lr", "grad_norm", "images_per_s", "epoch_loss"} | terms <= names, names
    epochs = [r for r in rows if r["name"] == "epoch_loss"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5]  # 3 + 2 epochs, each end logged
    steps = [r["step"] for r in rows if r["name"] == "loss"]
    assert steps == sorted(set(steps)) and steps[-1] == epochs[-1]["step"]
    assert all(r["value"] > 0 and math.isfinite(r["value"]) for r in rows if r["name"] != "lr")
    phases = {r["phase"] for r in rows}
    assert phases == {"frozen", "joint"}


def test_logging_more_often_changes_no_number(tmp_path):
    recipe = load_recipe(Path(__file__).parents[2] / "studies" / "recipes" / "synth.toml")
    cfg = with_overrides(recipe, {k: eval_value(v) for k, v in SETS.items()})
    preds = []
    for points, folder in ((1, "few"), (10_000, "every")):
        assert log_interval(cfg, 16, points) == (20 if points == 1 else 1)
        run_experiment(cfg, artifacts_dir=tmp_path / folder, cache_dir=default_cache_dir(),
                       options=RunOptions(device="cpu", history_points=points))  # fmt: skip
        preds.append(Predictions.load(tmp_path / folder / "predictions.npz"))
    assert np.array_equal(preds[0].logits, preds[1].logits)


def eval_value(text: str):
    import tomllib

    return tomllib.loads(f"v = {text}")["v"]


def test_curves_of_runs_and_errors(trained, tmp_path):
    store, key = trained
    out = tmp_path / "c.png"
    result = runner.invoke(app, ["plot", "curves", key[:8], "--store", store, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    plot = curves(Store(store), runs=[key], names=["loss", "loss/*"])
    assert plot.data["name"].iloc[0] == "loss" and plot.data["name"].nunique() == 7
    bad = runner.invoke(app, ["plot", "curves", key, "--names", "los", "--store", store])
    assert bad.exit_code == 2 and "nothing logged as 'los'" in bad.output
    with pytest.raises(KeyError, match="nothing logged as val/"):
        curves(Store(store), runs=[key], names=["val/*"])  # a run that did not validate


def test_study_curves_average_seeds_per_arm(study_store):  # noqa: F811
    store, study, _ = study_store
    for r in study_runs(store, study).finished:
        base = 1.0 if r["arm"] == "weak" else 2.0
        rows = [
            {"step": s, "epoch": 1, "phase": "p", "name": "loss", "value": base + r["seed"] + s}
            for s in (1, 2, 3)
        ]
        store.add_history(r["run_key"], 1, rows)
    plot = curves(store, study=study_runs(store, study))
    good = plot.data[(plot.data["group"] == "good") & (plot.data["step"] == 2)].iloc[0]
    assert good["mean"] == pytest.approx(2.0 + 1 + 2) and good["std"] == pytest.approx(1.0)
    assert good["count"] == 3


def test_results_show_summarises_each_curve_first_best_last(trained):
    store, key = trained
    result = runner.invoke(app, ["results", "show", key[:8], "--store", store],
                           env={"COLUMNS": "100"})  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [r for r in Store(store).history([key]) if r["name"] == "loss/Lp"]
    first, last = rows[0], rows[-1]
    best = min(rows, key=lambda r: (r["value"], r["step"]))
    line = next(x for x in result.output.splitlines() if "loss/Lp" in x)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    assert cells == [
        "loss/Lp",
        str(len(rows)),
        f"{first['value']:.4g} @ {first['step']}",
        f"{best['value']:.4g} @ {best['step']}",
        f"{last['value']:.4g} @ {last['step']}",
    ]
    lr = next(x for x in result.output.splitlines() if x.startswith("│ lr "))
    assert [c.strip() for c in lr.split("│")][4] == "-"  # a learning rate has no "best"
    # metrics one per line: every metric readable in 100 columns
    record = Store(store).get(key)
    for name, value in record.metrics.items():
        assert re.search(rf"│ {re.escape(name)} +│ +{value:.2f} │", result.output), name


def test_export_tb_writes_what_the_store_holds(trained, tmp_path):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    store, key = trained
    out = tmp_path / "tb"
    for _ in range(2):  # a second export replaces the first
        result = runner.invoke(app, ["results", "export-tb", str(out), "--store", store])
        assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.rglob("*") if p.is_dir() and any(p.glob("events.*"))]
    assert folder.name.endswith(key[:10]) and len(list(folder.glob("events.*"))) == 1
    events = accumulator.EventAccumulator(str(folder))
    events.Reload()
    rows = [r for r in Store(store).history([key]) if r["name"] == "loss"]
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [
        (r["step"], pytest.approx(r["value"], rel=1e-6)) for r in rows
    ]
    assert "final/mAP" in events.Tags()["scalars"]
