"""Every command through Typer's CliRunner: help, happy paths, errors and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store

runner = CliRunner()

COMMANDS = [
    [],
    ["run"],
    ["run", "study"],
    ["results"],
    ["results", "list"],
    ["results", "show"],
    ["results", "diff"],
    ["data"],
    ["data", "synth"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "bench")
def test_help_everywhere(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def _commands(group, path=()):
    """(path, click command) for every command under ``group``."""
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_help_keeps_every_bracketed_default():
    """Rich markup would eat ``[default: ...]`` as a tag: every one must be shown."""
    import typer

    root = typer.main.get_command(app)
    checked = 0
    for path, cmd in _commands(root):
        wanted = [
            p.help.split("[", 1)[1].split("]", 1)[0]
            for p in cmd.params
            if getattr(p, "help", None) and "[" in p.help
        ]
        if not wanted:
            continue
        out = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400"}).output
        flat = " ".join(out.replace("│", " ").split())
        for text in wanted:
            assert f"[{' '.join(text.split())}]" in flat, (path, text)
            checked += 1
    assert checked >= 15


def test_data_synth_writes_a_coco_dataset(tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--seed",
            "2",
            "--train",
            "4",
            "--val",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "d" / "annotations" / "instances_train.json").read_text())
    assert len(doc["images"]) == 4 and (tmp_path / "d" / "val" / "000000000002.png").is_file()


def test_run_study_smoke_then_rerun_skips_then_results(tmp_path):
    store = str(tmp_path / "store.sqlite")
    first = runner.invoke(app, ["run", "study", "context_ratio", "--smoke", "--store", store])
    assert first.exit_code == 0, first.output
    assert (
        "5 runs, 0 already finished, 5 to run" in first.output
        and "ratio 5.0" in first.output
        and "mAP_ambiguous" in first.output
    )
    again = runner.invoke(app, ["run", "study", "context_ratio", "--smoke", "--store", store])
    assert again.exit_code == 0 and "5 already finished, 0 to run" in again.output
    listing = runner.invoke(app, ["results", "list", "--store", store])
    assert listing.exit_code == 0 and listing.output.count("finished") == 5
    key = Store(store).list_runs()[0]["run_key"]
    show = runner.invoke(app, ["results", "show", key[:8], "--store", store])
    assert show.exit_code == 0 and key in show.output and "model.context_ratio" in show.output
    assert "AP per class" in show.output


@pytest.mark.slow  # 13 runs; each arm's definition is checked without training in test_studies
@pytest.mark.parametrize("study", ["sigma", "loss_weights", "branches"])
def test_every_shipped_study_runs_in_smoke_form(tmp_path, study):
    result = runner.invoke(
        app,
        [
            "run",
            "study",
            study,
            "--smoke",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--set",
            "data.synth.train=12",
            "--set",
            "data.synth.val=8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "FAILED" not in result.output


def test_a_failing_run_is_recorded_and_the_study_goes_on(tmp_path):
    study = tmp_path / "fails.toml"
    study.write_text(
        'question = "Does a broken arm stop the others?"\nrecipe = "synth"\nseeds = [0]\n'
        '[[arms]]\nname = "broken"\nreason = "a loss term SCAC has not fails when it trains"\n'
        'set = { "train.phases.0.loss_terms" = ["median"] }\n'
        '[[arms]]\nname = "fine"\nreason = "the default"\n'
    )
    store = str(tmp_path / "s.sqlite")
    result = runner.invoke(
        app,
        [
            "run",
            "study",
            str(study),
            "--smoke",
            "--store",
            store,
            "--set",
            "data.synth.train=8",
            "--set",
            "data.synth.val=4",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "1 run(s) of this study did not finish" in result.output
    rows = {r["arm"]: r for r in Store(store).list_runs()}
    assert rows["broken"]["status"] == "failed" and rows["fine"]["status"] == "finished"
    assert (
        "unknown loss terms ['median']" in rows["broken"]["error"]
        and "Traceback" in rows["broken"]["error"]
    )
    shown = runner.invoke(app, ["results", "show", rows["broken"]["run_key"], "--store", store])
    assert "unknown loss terms ['median']" in shown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "study", "nope"], "unknown study 'nope'; known:"),
        (
            ["run", "study", "context_ratio", "--set", "model.ratio=2"],
            "unknown config key 'model.ratio'",
        ),
        (["results", "show", "zzzz"], "no results store at"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(tmp_path, args, message):
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "s.sqlite")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
