"""``bench train``, ``bench data check/overlap`` and ``bench model summary`` through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store
from scac.testing import small_overrides
from tests.bench.holds import Hold
from tests.conftest import as_set_options
from tests.formats import write_coco_tree, write_voc_tree

runner = CliRunner()

# the synthetic recipe at test size, with enough epochs to interrupt between two of them
TINY = [
    *as_set_options(
        small_overrides(
            "scac",
            {
                "data.synth.train": 16,
                "model.detector_weights": "none",
                "train.batch_size": 4,
                "train.phases.0.epochs": 3,
                "train.phases.1.epochs": 2,
            },
        )
    ),
    "--device",
    "cpu",
]


def _metrics(store: str) -> dict:
    (row,) = [r for r in Store(store).list_runs() if r["status"] == "finished"]
    return row["metrics"]


def _curve(store: str, name: str) -> list[tuple[int, float]]:
    db = Store(store)
    (key,) = [r["run_key"] for r in db.list_runs()]
    return [(r["step"], r["value"]) for r in db.history([key]) if r["name"] == name]


def test_train_records_a_run_and_skips_it_when_finished(tmp_path):
    store = str(tmp_path / "s.sqlite")
    first = runner.invoke(app, ["train", "synth", *TINY, "--store", store])
    assert first.exit_code == 0, first.output
    (row,) = Store(store).list_runs()
    assert (row["status"], row["study"], row["arm"]) == ("finished", "bench train", "synth")
    assert row["details"]["skipped_images"] == [] and row["details"]["world_size"] == 1
    assert not (tmp_path / "runs" / row["run_key"] / "checkpoint.pt").exists()  # removed when done
    assert (tmp_path / "runs" / row["run_key"] / "model.pt").is_file()
    again = runner.invoke(app, ["train", "synth", *TINY, "--store", store])
    assert again.exit_code == 0 and "already finished" in again.output


def test_resume_after_a_kill_gives_the_uninterrupted_numbers(tmp_path, spawn):
    whole = str(tmp_path / "whole.sqlite")
    assert runner.invoke(app, ["train", "synth", *TINY, "--store", whole]).exit_code == 0
    store = str(tmp_path / "killed.sqlite")
    hold = Hold(tmp_path / "hold", at="epoch")  # the run waits after its first checkpoint
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **hold.env}
    proc = spawn(
        [sys.executable, "-m", "bench.cli.main", "train", "synth", *TINY, "--store", store],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pid, key = hold.wait_for(0, proc)
    assert pid == proc.pid and (tmp_path / "runs" / key / "checkpoint.pt").is_file()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (row,) = Store(store).list_runs()
    assert row["status"] == "running"
    assert _curve(store, "epoch_loss") == _curve(whole, "epoch_loss")[:1]  # kept when killed
    resumed = runner.invoke(app, ["train", "synth", *TINY, "--store", store, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert _metrics(store) == _metrics(whole)
    # the curve of the two attempts is the uninterrupted one: every step once, same values
    for name in ("epoch_loss", "loss", "lr", "grad_norm"):
        assert _curve(store, name) == _curve(whole, name), name


def test_bf16_autocast_runs_on_the_cpu(tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "synth",
            *TINY,
            "--amp",
            "bf16",
            "--set",
            "train.phases.0.epochs=1",
            "--set",
            "train.phases.1.epochs=1",
            "--store",
            str(tmp_path / "s.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = Store(str(tmp_path / "s.sqlite")).list_runs()
    assert row["config"]["train"]["amp"] == "bf16" and row["status"] == "finished"


def test_train_errors(tmp_path):
    store = ["--store", str(tmp_path / "s.sqlite")]
    missing = runner.invoke(app, ["train", "scac-coco", "--data", str(tmp_path / "nodata"), *store])
    assert missing.exit_code == 2 and "dataset folder not found" in missing.output
    unknown = runner.invoke(app, ["train", "nope", *store])
    assert unknown.exit_code == 2 and "unknown recipe 'nope'; known: " in unknown.output
    no_root = runner.invoke(app, ["train", "scac-voc", *store])
    assert no_root.exit_code == 2 and "data.root must name the dataset folder" in no_root.output


def test_train_on_a_coco_tree_skips_bad_images_and_lists_them(tmp_path):
    root = write_coco_tree(tmp_path / "coco")
    store = str(tmp_path / "s.sqlite")
    args = [
        "train",
        "scac-coco",
        "--data",
        str(root),
        "--set",
        "model.backbone='tiny'",
        "--set",
        "model.weights='none'",
        "--set",
        "model.fpn_channels=16",
        "--set",
        "model.representation_size=32",
        "--set",
        "data.image_size=64",
        "--set",
        "model.rpn_post_nms_top_n=8",
        "--set",
        "train.phases.0.epochs=1",
        "--set",
        "train.phases.1.epochs=1",
        "--set",
        "train.batch_size=2",
        "--device",
        "cpu",
        "--store",
        store,
    ]
    failing = runner.invoke(app, args)
    assert failing.exit_code == 1 and "FAILED" in failing.output
    assert "cannot decode image" in failing.output or "image file not found" in failing.output
    ok = runner.invoke(app, [*args, "--skip-bad"])
    assert ok.exit_code == 0, ok.output
    row = next(r for r in Store(store).list_runs() if r["status"] == "finished")
    skipped = row["details"]["skipped_images"]
    assert len(skipped) == 2 and any("000000000004" in s for s in skipped)
    assert any("000000000005" in s for s in skipped)


def test_data_check_and_overlap_commands(tmp_path):
    coco = write_coco_tree(tmp_path / "coco")
    bad = runner.invoke(app, ["data", "check", str(coco), "--split", "train2014"])
    assert bad.exit_code == 1 and "3 error(s)" in bad.output and "empty box" in bad.output
    good = runner.invoke(app, ["data", "check", str(coco), "--split", "val2014"])
    assert good.exit_code == 0 and "ok" in good.output and "2 images" in good.output
    voc = write_voc_tree(tmp_path)
    vres = runner.invoke(app, ["data", "check", str(voc), "--format", "voc"])
    assert vres.exit_code == 1 and "difficult-only" in vres.output and "no objects" in vres.output
    ov = runner.invoke(
        app,
        [
            "data",
            "overlap",
            str(coco / "annotations" / "instances_val2017.json"),
            str(coco / "annotations" / "instances_val2014.json"),
        ],
    )
    assert (
        ov.exit_code == 0 and "same image id: 1" in ov.output and "same file name: 0" in ov.output
    )
    missing = runner.invoke(app, ["data", "check", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "dataset folder not found" in missing.output


def test_model_summary_of_the_full_size_recipe():
    result = runner.invoke(app, ["model", "summary", "scac-coco"])
    assert result.exit_code == 0, result.output
    assert "resnext101_32x8d" in result.output and "80 classes" in result.output
    assert "86,539,456" in result.output  # ResNeXt-101 32x8d trunk without its classifier
    assert "context_head" in result.output


@pytest.mark.parametrize(
    ("recipe", "figures"),
    [
        # SRN's extra layers one by one, their total against the paper's "about 6 million"
        ("srn-coco", ["512 x 512 x 3 x 3", "2,359,808", "3,879,152", "about 6 million"]),
        ("resnet101-coco", ["42,394,816", "163,920"]),  # ResNet-101 trunk; 2048 x 80 + 80
        ("lc-coco", ["latent_context on resnet101", "460,165,296"]),
    ],
)
def test_model_summary_of_the_full_size_peer_recipes(recipe, figures):
    result = runner.invoke(app, ["model", "summary", recipe], terminal_width=200)
    assert result.exit_code == 0, result.output
    for figure in figures:
        assert figure in result.output, figure


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["model", "--help"],
        ["model", "summary", "--help"],
        ["data", "check", "--help"],
        ["data", "overlap", "--help"],
    ],
)
def test_help(args):
    assert runner.invoke(app, ["train", "--help"] if args == ["--help"] else args).exit_code == 0


def test_ddp_on_cpu_with_two_processes(tmp_path):
    store = str(tmp_path / "ddp.sqlite")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "bench.cli.main",
        "train",
        "synth",
        *TINY,
        "--store",
        store,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = Store(store).list_runs()
    assert len(rows) == 1 and rows[0]["status"] == "finished"
    assert rows[0]["details"]["world_size"] == 2
    preds = json.loads((tmp_path / "runs" / rows[0]["run_key"] / "config.json").read_text())
    assert preds["train"]["batch_size"] == 4
