"""Arms compared with their own reference arm (studies of pairs, e.g. readings_context)."""

from __future__ import annotations

import statistics

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.cli import study_table as cli_render
from bench.cli.main import app
from bench.store import Store
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from bench.tables.study import study_table
from scac.config import ConfigError
from tests.bench.test_tables import SYNTH, add_run

runner = CliRunner()
PAIRS = """question = "Does the gain hold under both readings?"
recipe = "synth"
seeds = [0, 1]
metrics = ["mAP"]

[[arms]]
name = "x, ratio 1.0"
reason = "x without context"
set = { "model.context_ratio" = 1.0 }

[[arms]]
name = "x, ratio 5.0"
reason = "x with context"
reference = "x, ratio 1.0"
set = { "model.context_ratio" = 5.0 }

[[arms]]
name = "y, ratio 1.0"
reason = "y without context"
set = { "model.context_ratio" = 1.0, "model.aggregation" = "lse" }

[[arms]]
name = "y, ratio 5.0"
reason = "y with context"
reference = "y, ratio 1.0"
set = { "model.context_ratio" = 5.0, "model.aggregation" = "lse" }
"""


def test_each_arm_is_compared_with_the_reference_it_names(tmp_path):
    path = tmp_path / "pairs.toml"
    path.write_text(PAIRS)
    study = load_study(str(path))
    assert study.paired and study.reference is None
    refs = {a.name: study.reference_of(a) for a in study.arms}
    assert refs == {
        "x, ratio 1.0": None,
        "x, ratio 5.0": "x, ratio 1.0",
        "y, ratio 1.0": None,
        "y, ratio 5.0": "y, ratio 1.0",
    }
    store = Store(str(tmp_path / "s.sqlite"))
    maps = {}
    strengths = {
        "x, ratio 1.0": 0.05,
        "x, ratio 5.0": 0.5,
        "y, ratio 1.0": 0.3,
        "y, ratio 5.0": 0.3,
    }
    for i, (arm, strength) in enumerate(strengths.items()):
        for seed in (0, 1):
            metrics, _ = add_run(
                store, f"k{i}{seed}aaaaaaaaa", SYNTH, strength=strength, seed=seed,
                study=study.name, arm=arm,
            )  # fmt: skip
            maps[arm, seed] = metrics["mAP"]
    table = study_table(study_runs(store, study))
    assert set(table.comparisons) == {"x, ratio 5.0", "y, ratio 5.0"}
    for arm in ("x", "y"):  # each against its own ratio 1.0, never against the other's
        gain = statistics.fmean(
            maps[f"{arm}, ratio 5.0", s] - maps[f"{arm}, ratio 1.0", s] for s in (0, 1)
        )
        assert table.comparisons[f"{arm}, ratio 5.0"].ci.delta == pytest.approx(gain, abs=1e-6)
    assert table.comparisons["x, ratio 5.0"].ci.excludes_zero
    console = Console(width=200, record=True)
    console.print(cli_render.study_table(table))
    out = console.export_text()
    assert "the arm in 'vs'" in out
    row = next(line for line in out.splitlines() if "x, ratio 5.0" in line)
    assert "x, ratio 1.0" in row and table.comparisons["x, ratio 5.0"].text() in row


def test_an_unknown_reference_is_refused_naming_the_arm(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(PAIRS.replace('reference = "y, ratio 1.0"', 'reference = "y, ratio 2.0"'))
    with pytest.raises(
        ConfigError, match=r"arms\[3\] \('y, ratio 5.0'\): reference arm 'y, ratio 2.0'"
    ):
        load_study(str(path))


@pytest.mark.slow  # 11 arms: about 20 s; each reading's switch: tests/scac/models/test_switches.py
def test_the_readings_study_runs_end_to_end_in_smoke_form(tmp_path):
    """Every reading of SCAC the paper leaves open trains and is scored (about 25 s)."""
    store = str(tmp_path / "s.sqlite")
    result = runner.invoke(app, ["run", "study", "readings", "--smoke", "--store", store])
    assert result.exit_code == 0, result.output
    study = load_study("readings")
    runs = Store(store).list_runs(study="readings")
    assert {r["arm"] for r in runs} == {a.name for a in study.arms}
    assert all(r["status"] == "finished" and "mAP" in r["metrics"] for r in runs)
    assert "ΔmAP vs ref [95% CI]" in result.output
    # plain mode (not a terminal): a line per epoch of every run, 1 + 1 epochs at smoke size
    for arm in study.arms:
        assert f"  {arm.name} seed 0: frozen epoch 1/1 (1/2), loss " in result.output, arm.name
        assert f"  {arm.name} seed 0: joint epoch 1/1 (2/2), loss " in result.output, arm.name


@pytest.mark.slow  # 22 arms: about 40 s after the readings smoke, more alone
def test_the_readings_context_study_pairs_every_reading(tmp_path):
    store = str(tmp_path / "s.sqlite")
    result = runner.invoke(app, ["run", "study", "readings_context", "--smoke", "--store", store])
    assert result.exit_code == 0, result.output
    table = study_table(study_runs(Store(store), load_study("readings_context"), smoke=True))
    assert len(table.comparisons) == 11
    assert all(name.endswith("ratio 5.0") for name in table.comparisons)
