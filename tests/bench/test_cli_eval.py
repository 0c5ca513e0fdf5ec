"""`bench eval` and `bench results show --protocol` through Typer's CliRunner."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store
from bench.store.owner import Owner
from scac.config import to_dict
from scac.metrics import evaluate_file
from scac.predictions import Predictions

runner = CliRunner()
KNOWN = "asl, default, mlgcn, mmpretrain, query2label, srn, torchmetrics"


def _write_predictions(path, without_positives=False):
    rng = np.random.default_rng(0)
    targets = (rng.random((80, 4)) < 0.3).astype(np.uint8)
    if without_positives:
        targets[:, 3] = 0
    scores = np.clip(0.4 * targets + 0.6 * rng.random((80, 4)), 0, 1).astype(np.float32)
    return Predictions(
        scores=scores,
        targets=targets,
        mask=np.ones((80, 4), dtype=bool),
        image_ids=np.arange(80),
        classes=["ball", "plate", "person", "kite"],
        class_groups=["ambiguous", "ambiguous", "context", "distinct"],
    ).save(path)


@pytest.mark.parametrize("command", [["eval"], ["results", "show"]])
def test_help_names_every_protocol(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "--protocol" in result.output
    assert "mmpretrain" in result.output


@pytest.mark.parametrize("protocol", ["default", "mlgcn", "srn", "torchmetrics"])
def test_eval_prints_the_full_metric_set(tmp_path, protocol):
    path = _write_predictions(tmp_path / "p.npz")
    result = runner.invoke(app, ["eval", str(path), "--protocol", protocol])
    assert result.exit_code == 0, result.output
    ev = evaluate_file(path, protocol)
    assert f"protocol {protocol}" in result.output and "mAP_ambiguous" in result.output
    assert f"{ev.metrics['mAP']:.2f}" in result.output
    assert f"{ev.metrics['OF1_top3']:.2f}" in result.output and "top-3" in result.output
    assert f"{ev.per_class_ap['kite']:.2f}" in result.output


def test_eval_shows_the_warning_for_classes_without_positives(tmp_path):
    path = _write_predictions(tmp_path / "p.npz", without_positives=True)
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: classes without positives left out of mAP: kite" in result.output
    raised = runner.invoke(app, ["eval", str(path), "-p", "mlgcn"])
    assert raised.exit_code != 0 and "classes without positives" in raised.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protocol", "voc"], f"unknown metric protocol 'voc'; known: {KNOWN}"),
        ([], "predictions file not found"),
    ],
)
def test_eval_errors_are_one_line_and_exit_non_zero(tmp_path, args, message):
    path = tmp_path / "p.npz"
    if args:
        _write_predictions(path)
    result = runner.invoke(app, ["eval", str(path), *args])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")


def test_eval_rejects_a_file_that_is_not_predictions(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, scores=np.zeros((2, 2)))
    result = runner.invoke(app, ["eval", str(bad)])
    assert result.exit_code != 0 and "not a readable predictions file" in result.output


def _raw_predictions(path, **change):
    """A predictions file written field by field, so that it can hold what save() would not."""
    rng = np.random.default_rng(1)
    fields = {
        "scores": rng.random((6, 3)).astype(np.float32),
        "targets": (rng.random((6, 3)) < 0.5).astype(np.uint8),
        "mask": np.ones((6, 3), bool),
        "image_ids": np.arange(6),
        "classes": np.array(["a", "b", "c"]),
        "class_groups": np.array(["", "", ""]),
    }
    fields.update(change)
    np.savez(path, **fields)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scores": np.full((6, 3), np.nan, np.float32)}, "scores contain NaN or infinite"),
        ({"scores": np.full((6, 3), np.inf, np.float32)}, "scores contain NaN or infinite"),
        ({"targets": np.full((6, 3), 2, np.uint8)}, "targets must be 0 or 1"),
        ({"targets": np.zeros((6, 2), np.uint8)}, "must all be (N, C)"),
        ({"mask": np.ones((6, 2), bool)}, "must all be (N, C)"),
        ({"scores": np.full((6, 3), 3.0, np.float32)}, "not probabilities"),
    ],
)
def test_eval_bad_predictions_exit_non_zero_with_the_reason(tmp_path, change, message):
    path = _raw_predictions(tmp_path / "p.npz", **change)
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output.replace("\n", " ")


def _finished_run(tmp_path, config) -> tuple[str, Store]:
    store = Store(str(tmp_path / "s.sqlite"))
    store.link("study", "arm", 0, "run0123456789", "scac", to_dict(config))
    owner = Owner.this_process()
    store.claim("run0123456789", owner, git_commit=None, versions={}, device="cpu")
    store.finish(
        "run0123456789", owner, metrics={"mAP": 1.0}, per_class_ap={"a": 1.0}, wall_seconds=1
    )
    return "run0123456789", store


def test_results_show_recomputes_under_a_protocol(tmp_path, tiny_config):
    key, store = _finished_run(tmp_path, tiny_config)
    path = store.artifacts_dir(key)
    path.mkdir(parents=True)
    _write_predictions(path / "predictions.npz")
    args = ["results", "show", key[:6], "--store", store.url.split("///")[1]]
    result = runner.invoke(app, [*args, "--protocol", "mmpretrain"])
    assert result.exit_code == 0, result.output
    ev = evaluate_file(path / "predictions.npz", "mmpretrain")
    assert "protocol mmpretrain" in result.output and f"{ev.metrics['mAP']:.2f}" in result.output
    assert "model.context_ratio" in result.output  # the config is still shown
    plain = runner.invoke(app, args)  # without --protocol: the stored metrics, as before
    assert plain.exit_code == 0 and "AP per class" in plain.output and "1.00" in plain.output
    assert "protocol" not in plain.output
    unknown = runner.invoke(app, [*args, "--protocol", "voc"])
    assert unknown.exit_code != 0 and f"known: {KNOWN}" in unknown.output.replace("\n", " ")


def test_results_show_names_the_missing_predictions_file(tmp_path, tiny_config):
    key, store = _finished_run(tmp_path, tiny_config)
    args = ["results", "show", key, "--store", store.url.split("///")[1], "-p", "default"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    missing = str(store.artifacts_dir(key) / "predictions.npz")
    assert "predictions file not found" in result.output
    assert missing in result.output.replace("\n", "")
