"""``bench run grid``: the product of --vary options written as a study file and run as one."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store
from bench.studies.files import load_study
from bench.studies.grids import Axis, grid_text, parse_axis, write_grid
from scac.config import ConfigError

runner = CliRunner()


@pytest.fixture
def studies(tmp_path, monkeypatch):
    """The user's studies folder, where grids are written (the toolkit's own stay readable)."""
    folder = tmp_path / "studies"
    monkeypatch.setenv("BENCH_STUDIES", str(folder))
    return folder


def test_values_are_toml_literals_and_commas_inside_lists_do_not_split():
    assert parse_axis("model.context_ratio=1,3.5,5") == Axis("model.context_ratio", (1, 3.5, 5))
    assert parse_axis("model.fusion=max, mul") == Axis("model.fusion", ("max", "mul"))
    lists = parse_axis('model.branches=["object"],["object","context"]')
    assert lists.values == (["object"], ["object", "context"])
    for bad, word in (("model.x", "key=value1"), ("model.x=1,,2", "none empty"),
                      ("model.x=1,1", "twice")):  # fmt: skip
        with pytest.raises(ConfigError, match=word):
            parse_axis(bad)


def test_the_study_file_holds_the_product_the_first_point_as_reference():
    axes = [parse_axis("model.context_ratio=1,5"), parse_axis("loss.alpha=0.5,1")]
    data = tomllib.loads(grid_text("synth", axes, (0, 1), {"train.grad_clip": 2.0}))
    assert [a["set"] for a in data["arms"]] == [
        {"model.context_ratio": r, "loss.alpha": a} for r in (1, 5) for a in (0.5, 1)
    ]
    assert data["reference"] == data["arms"][0]["name"] == "context_ratio=1, alpha=0.5"
    assert data["seeds"] == [0, 1] and data["set"] == {"train.grad_clip": 2.0}
    assert data["parameter"] == "model.context_ratio"
    with pytest.raises(ConfigError, match="varies this key"):
        grid_text("synth", axes, (0,), {"loss.alpha": 1})


def test_a_name_is_one_study(studies):
    axes = [parse_axis("model.context_ratio=1,5")]
    path, written = write_grid("g", "synth", axes, (0,))
    assert written and path == studies / "g.toml" and load_study("g").path == path
    assert write_grid("g", "synth", axes, (0,)) == (path, False)  # the same grid: resumed
    with pytest.raises(ConfigError, match="'g' already exists"):
        write_grid("g", "synth", [parse_axis("model.context_ratio=1,7")], (0,))
    with pytest.raises(ConfigError, match="'context_ratio' already exists"):  # a shipped one
        write_grid("context_ratio", "synth", axes, (0,))
    with pytest.raises(ConfigError, match=r"grid 'h': arm 'nope=1': unknown config key"):
        write_grid("h", "synth", [parse_axis("model.nope=1,2")], (0,))
    assert not (studies / "h.toml").exists()  # nothing written for a grid that cannot run


def test_a_grid_runs_once_and_is_found_again_as_a_study(studies, tmp_path):
    store = str(tmp_path / "s.sqlite")
    args = ["run", "grid", "synth", "--vary", "model.context_ratio=1,5", "--name", "g",
            "--smoke", "--store", store]  # fmt: skip
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "wrote study" in first.output and "context_ratio=5" in first.output
    runs = Store(store).list_runs(study="g")
    assert sorted(r["config"]["model"]["context_ratio"] for r in runs) == [1.0, 5.0]
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "found study" in again.output, again.output
    assert [r["attempts"] for r in Store(store).list_runs(study="g")] == [1, 1]  # not retrained
    table = runner.invoke(app, ["table", "coco", "--study", "g", "--smoke", "--store", store])
    assert table.exit_code == 0 and "context_ratio=5" in table.output, table.output
