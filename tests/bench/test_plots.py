"""Figures: each plot's drawn data equals the numbers it claims to show, and files are written."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from sklearn.metrics import average_precision_score, precision_recall_curve
from typer.testing import CliRunner

from bench.cli.main import app
from bench.plots.figures import ap_gains, study_curve
from bench.plots.pr import pr_curves, precision_recall
from bench.store import Store
from bench.store.owner import Owner
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from bench.tables.reported import load
from scac.metrics import summarize
from scac.predictions import Predictions

runner = CliRunner()
VOC = (
    "aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike "
    "person pottedplant sheep sofa train tvmonitor"
).split()
SYNTH = ["ball", "plate", "buoy", "person"]
STUDY = """question = "Does a stronger signal help?"
recipe = "synth"
seeds = [0, 1]
parameter = "model.context_ratio"
reference = "r1"
metrics = ["mAP"]
[[arms]]
name = "r1"
reason = "weak"
set = { "model.context_ratio" = 1.0 }
[[arms]]
name = "r3"
reason = "strong"
set = { "model.context_ratio" = 3.0 }
"""


def add_run(store, key, classes, *, strength, seed=0, study="s", arm="a", ratio=1.0):
    """A finished run whose scores are noise + strength x targets (ties included)."""
    rng = np.random.default_rng(seed)
    targets = (np.random.default_rng(7).random((60, len(classes))) < 0.3).astype(np.uint8)
    scores = np.round(np.clip(0.6 * rng.random(targets.shape) + strength * targets, 0, 1), 1)
    config = {"seed": seed, "data": {"format": "synth"}, "model": {"context_ratio": ratio}}
    store.link(study, arm, seed, key, "scac", config)
    owner = Owner.this_process()
    store.claim(key, owner, git_commit=None, versions={}, device="cpu")
    pred = Predictions(
        scores.astype(np.float32), targets, np.ones(targets.shape, bool), np.arange(60),
        list(classes), [""] * len(classes),
    )  # fmt: skip
    store.artifacts_dir(key).mkdir(parents=True, exist_ok=True)
    pred.save(store.artifacts_dir(key) / "predictions.npz")
    metrics, per_class = summarize(pred)
    store.finish(key, owner, metrics=metrics, per_class_ap=per_class, wall_seconds=0.1)
    return pred, metrics, per_class


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "store.sqlite"))


def _bars(plot):
    return [p.get_height() for p in plot.figure.axes[0].patches]


def test_voc_gains_of_two_reported_rows(tmp_path):
    plot = ap_gains("The Proposed", "ResNet101")
    table = load("voc")
    proposed, resnet = table.find("The Proposed"), table.find("ResNet101")
    classes = [c for c in table.columns if c.metric != "mAP"]
    expected = {
        ("aeroplane" if c.metric == "areoplane" else c.metric): proposed.number(c)
        - resnet.number(c)
        for c in classes
    }
    assert dict(zip(plot.data["class"], plot.data["gain"], strict=True)) == pytest.approx(expected)
    assert _bars(plot) == pytest.approx(list(plot.data["gain"]))  # what is drawn
    assert list(plot.data["gain"]) == sorted(plot.data["gain"], reverse=True)
    assert plot.data["class"].iloc[0] == "bottle"  # 90.5 - 65.7, the largest gain
    labels = [t.get_text() for t in plot.figure.axes[0].get_xticklabels()]
    assert labels == list(plot.data["class"])
    assert plot.data["gain"].mean() == pytest.approx((95.32 - 89.93), abs=1e-9)
    for suffix in (".png", ".pdf", ".svg"):
        path = plot.save(tmp_path / f"gains{suffix}")
        assert path.stat().st_size > 1000
    assert (tmp_path / "gains.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="suffix must be one of .png, .pdf, .svg"):
        plot.save(tmp_path / "gains.jpg")


def test_voc_gains_with_runs(store):
    _, _, per_class = add_run(store, "vocrun", VOC, strength=0.4)
    add_run(store, "synth1", SYNTH, strength=0.5)
    add_run(store, "synth2", SYNTH, strength=0.1, seed=1)
    plot = ap_gains("vocrun", "ResNet101", store=store)
    resnet = load("voc").find("ResNet101")
    gains = dict(zip(plot.data["class"], plot.data["gain"], strict=True))
    assert gains["aeroplane"] == pytest.approx(per_class["aeroplane"] - 99.5)
    assert _bars(plot) == pytest.approx(list(plot.data["gain"]))
    assert resnet.number(load("voc").columns[0]) == 99.5
    two_runs = ap_gains("synth1", "synth2", store=store)  # two runs: their own classes
    assert sorted(two_runs.data["class"]) == sorted(SYNTH)
    with pytest.raises(ValueError, match="is per class over 20 classes"):
        ap_gains("synth1", "ResNet101", store=store)
    with pytest.raises(KeyError, match="neither a row of table voc"):
        ap_gains("nobody", "ResNet101", store=store)


def test_study_curve_draws_mean_and_std_band(tmp_path, store):
    path = tmp_path / "fake.toml"
    path.write_text(STUDY)
    values = {}
    for arm, strength, ratio in (("r1", 0.05, 1.0), ("r3", 0.5, 3.0)):
        for seed in (0, 1):
            _, metrics, _ = add_run(
                store, f"{arm}{seed}", SYNTH, strength=strength, seed=seed, study="fake",
                arm=arm, ratio=ratio,
            )  # fmt: skip
            values.setdefault(ratio, []).append(metrics["mAP"])
    plot = study_curve(study_runs(store, load_study(str(path))), per_class=True)
    metric = plot.data[plot.data["kind"] == "metric"]
    assert list(metric["x"]) == [1.0, 3.0]
    assert list(metric["mean"]) == pytest.approx([statistics.fmean(values[x]) for x in (1.0, 3.0)])
    assert list(metric["std"]) == pytest.approx([statistics.stdev(values[x]) for x in (1.0, 3.0)])
    ax = plot.figure.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "mAP (mean ± std)")
    assert list(line.get_ydata()) == pytest.approx(list(metric["mean"]))
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    ys = band.get_paths()[0].vertices[:, 1]
    top = (metric["mean"] + metric["std"]).max()
    assert ys.max() == pytest.approx(top) and ys.min() == pytest.approx(
        (metric["mean"] - metric["std"]).min()
    )
    assert sum(ln.get_label().startswith("AP ") for ln in ax.get_lines()) == len(SYNTH)
    assert plot.save(tmp_path / "study.svg").read_text().startswith("<?xml")


def test_study_without_parameter_is_refused(store):
    with pytest.raises(ValueError, match="names no parameter.*context_ratio"):
        study_curve(study_runs(store, load_study("branches")))


def test_precision_recall_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    s = np.round(rng.random(200) * 0.7 + 0.3 * y, 1)  # many ties
    p, r, t, ap = precision_recall(s, y)
    assert ap == pytest.approx(average_precision_score(y, s), abs=1e-12)
    sp, sr, st = precision_recall_curve(y, s)
    points = set(zip(np.round(sr, 12), np.round(sp, 12), strict=True))
    assert set(zip(np.round(r, 12), np.round(p, 12), strict=True)) <= points
    assert np.all(np.diff(r) > 0) and np.all(np.diff(t) < 0)


def test_pr_curves_of_a_run(tmp_path, store):
    pred, _, per_class = add_run(store, "prrun", SYNTH, strength=0.3)
    plot = pr_curves("prrun", store, classes=["ball", "person"])
    assert set(plot.data["class"]) == {"ball", "person"}
    for cls in ("ball", "person"):
        sub = plot.data[plot.data["class"] == cls]
        assert 100 * sub["AP"].iloc[0] == pytest.approx(per_class[cls])
        line = next(ln for ln in plot.figure.axes[0].get_lines() if ln.get_label().startswith(cls))
        assert list(line.get_xdata()[1:]) == pytest.approx(list(sub["recall"]))
        assert list(line.get_ydata()[1:]) == pytest.approx(list(sub["precision"]))
    assert set(pr_curves("prrun", store).data["class"]) == set(SYNTH)  # all, when <= 10
    with pytest.raises(KeyError, match="no class 'cat'.*ball, plate, buoy, person"):
        pr_curves("prrun", store, classes=["cat"])


def test_cli_plots_write_files_and_report_errors(tmp_path, store):
    add_run(store, "clirun", SYNTH, strength=0.3)
    st = ["--store", store.url]
    gains = tmp_path / "g.pdf"
    result = runner.invoke(
        app, ["plot", "voc-gains", "The Proposed", "--baseline", "ResNet101", "--out", str(gains)]
    )
    assert result.exit_code == 0, result.output
    assert gains.stat().st_size > 1000 and "20 classes, mean gain +5.39" in result.output
    pr = tmp_path / "pr.png"
    result = runner.invoke(
        app, ["plot", "pr", "clirun", "--classes", "ball,plate", "--out", str(pr), *st]
    )
    assert result.exit_code == 0 and pr.read_bytes()[:4] == b"\x89PNG", result.output
    cases = [
        (["plot", "voc-gains", "The Proposed", "--baseline", "Nobody", *st], "ResNet101-CRL"),
        (
            ["plot", "voc-gains", "The Proposed", "--baseline", "ResNet101", "--out", "x.gif"],
            ".png",
        ),
        (["plot", "pr", "zzz", *st], "no run 'zzz'"),
        (["plot", "pr", "clirun", "--classes", "cat", *st], "no class 'cat'"),
        (["plot", "study", "branches", *st], "names no parameter"),
        (["plot", "study", "context_ratio", *st], "no finished run of study"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (
            args,
            result.output,
        )


@pytest.mark.parametrize(
    "command", [["plot"], ["plot", "voc-gains"], ["plot", "study"], ["plot", "pr"]]
)
def test_plot_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_plot_study_cli(tmp_path, store):
    path = tmp_path / "fake.toml"
    path.write_text(STUDY)
    for arm, ratio in (("r1", 1.0), ("r3", 3.0)):
        add_run(store, f"c{arm}", SYNTH, strength=ratio / 5, study="fake", arm=arm, ratio=ratio)
    out = tmp_path / "s.png"
    result = runner.invoke(
        app,
        [
            "plot",
            "study",
            str(path),
            "--metric",
            "mAP,CF1",
            "--out",
            str(out),
            "--store",
            store.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG" and "2 arms" in result.output
    assert load_study(str(path)).parameter == "model.context_ratio"
