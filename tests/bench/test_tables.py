"""``bench table``: reported rows as printed, measured rows from the store, marks, deltas."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from bench.cli import study_table as cli_render
from bench.cli.main import app
from bench.comparisons.paired import compare_runs
from bench.store import Store
from bench.store.owner import Owner
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from bench.tables.build import build_table
from bench.tables.formats import FORMATS, render
from bench.tables.reported import load, table_names
from bench.tables.study import study_table
from scac.metrics import summarize
from scac.predictions import Predictions
from tests.papers.excerpts import papers_folder

runner = CliRunner()
PAPERS = papers_folder()  # the full texts beside the checkout, else the shipped excerpts
VOC = (
    "aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse motorbike "
    "person pottedplant sheep sofa train tvmonitor"
).split()
SYNTH = ["ball", "plate", "buoy", "person"]
STUDY = """question = "Does a stronger signal help?"
recipe = "synth"
seeds = [0, 1, 2]
parameter = "model.context_ratio"
reference = "weak"
metrics = ["mAP", "CF1"]

[[arms]]
name = "weak"
reason = "little signal in the scores"
set = { "model.context_ratio" = 1.0 }

[[arms]]
name = "good"
reason = "much signal in the scores"
set = { "model.context_ratio" = 5.0 }
"""


def add_run(
    store, key, classes, *, strength, seed=0, study="s", arm="a", images=None, ratio=1.0, drop=0.0
):
    """A finished run with synthetic predictions: scores = noise + strength x targets."""
    rng = np.random.default_rng(seed)
    n = 80 if images is None else len(images)
    targets = (np.random.default_rng(100).random((n, len(classes))) < 0.3).astype(np.uint8)
    scores = np.clip(0.6 * rng.random(targets.shape) + strength * targets, 0, 1)
    data = {"format": "synth", "drop_labels": drop}
    config = {"seed": seed, "data": data, "model": {"context_ratio": ratio}}
    store.link(study, arm, seed, key, "scac", config)
    owner = Owner.this_process()
    store.claim(key, owner, git_commit=None, versions={}, device="cpu")
    pred = Predictions(
        scores=scores.astype(np.float32),
        targets=targets,
        mask=np.ones(targets.shape, bool),
        image_ids=np.arange(n) if images is None else np.asarray(images),
        classes=list(classes),
        class_groups=[""] * len(classes),
    )
    folder = store.artifacts_dir(key)
    folder.mkdir(parents=True, exist_ok=True)
    pred.save(folder / "predictions.npz")
    metrics, per_class = summarize(pred)
    store.finish(key, owner, metrics=metrics, per_class_ap=per_class, wall_seconds=0.1)
    return metrics, per_class


@pytest.fixture
def study_store(tmp_path):
    """A store holding study ``fake`` (arms weak / good, seeds 0-2) and its study file."""
    path = tmp_path / "fake.toml"
    path.write_text(STUDY)
    store = Store(str(tmp_path / "store.sqlite"))
    metrics = {}
    for arm, strength, ratio in (("weak", 0.05, 1.0), ("good", 0.5, 5.0)):
        for seed in (0, 1, 2):
            key = f"{arm}{seed}aaaaaaaa"
            metrics[arm, seed], _ = add_run(
                store, key, SYNTH, strength=strength, seed=seed, study="fake", arm=arm, ratio=ratio
            )
    return store, load_study(str(path)), metrics


def _printed_table1() -> list[list[str]]:
    lines = (PAPERS / "scac-icassp2022.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Method\tmAP"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append([c if c != "-" else "" for c in line.split("\t")])
    return rows


def test_csv_reproduces_the_printed_table1_exactly():
    result = runner.invoke(app, ["table", "coco", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "method,mAP,F1-C,P-C,R-C,F1-O,P-O,R-O,marks"
    import csv

    body = [row[:8] for row in csv.reader(lines[1:])]
    assert body == _printed_table1()


def test_version_picks_the_preprint_row():
    result = runner.invoke(app, ["table", "coco", "--format", "csv", "--version", "preprint"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1].startswith("The Proposed,86.3,80.6,81.3,80.4,83.1,")


@pytest.mark.parametrize("name", table_names())
def test_every_table_renders_in_every_format(name):
    view = build_table(name)
    assert len(view.rows) == len(load(name).rows) and view.columns == list(load(name).columns)
    for fmt in FORMATS:
        out = render(view, fmt)
        assert out is not None
    latex = render(view, "latex")
    assert r"\toprule" in latex and r"\bottomrule" in latex and latex.count(r"\\") >= len(view.rows)


def test_best_bold_and_second_underlined():
    view = build_table("coco")
    labels = [r.label for r in view.rows]
    names = ("The Proposed", "C-Tran (CVPR, 2021, [14])", "ML-GCN (CVPR, 2019, [13])")
    proposed, ctran, ml_gcn = (labels.index(x) for x in names)
    assert view.best[0] == {proposed} and view.second[0] == {ctran}  # mAP 86.0, 85.1
    assert view.best[2] == {ctran} and view.second[2] == {ml_gcn}  # P-C 86.3, 85.1
    latex = render(view, "latex")
    assert r"\textbf{86.0}" in latex and r"\underline{85.1}" in latex
    assert r"The Proposed$^\dagger$$^\S$" in latex and r"$^\ddagger$" in latex
    assert "**86.0**" in render(view, "markdown")


def test_latex_groups_and_escapes():
    latex = render(build_table("srn-coco"), "latex")
    assert r"\multicolumn{7}{c}{All}" in latex and r"\cmidrule(lr){2-8}" in latex
    assert r"\multicolumn{6}{c}{top-3}" in latex
    assert r"448$\times$448" in render(build_table("lc-coco"), "latex")
    assert r"10\%" in render(build_table("lc-partial"), "latex")


def test_delta_to_is_exact_on_printed_digits():
    view = build_table("coco", version="preprint", delta_to="C-Tran")
    rows = {r.label: [c.text for c in r.cells] for r in view.rows}
    assert rows["The Proposed"] == ["+1.2", "+0.7", "-5.0", "+6.1", "+1.4", "-4.9", "+6.9"]
    assert rows["C-Tran (CVPR, 2021, [14])"][0] == "85.1"  # the reference keeps its values
    partial = build_table("lc-partial", delta_to="Baseline")
    ours, printed = partial.rows[4], partial.rows[5]  # printed "(+6.7) ..." under Ours
    assert [c.text for c in ours.cells] == [c.text for c in printed.cells]


def test_study_rows_mean_std_and_significance(study_store):
    store, study, metrics = study_store
    view = build_table("coco", store=store, study=study_runs(store, study))
    weak, good = view.rows[-2:]
    assert (weak.label, good.label, good.protocol, good.seeds) == (
        "weak",
        "good",
        "default (synth)",
        3,
    )
    maps = [metrics["good", s]["mAP"] for s in (0, 1, 2)]
    assert good.cells[0].value == pytest.approx(statistics.fmean(maps))
    assert good.cells[0].text == f"{statistics.fmean(maps):.1f} ± {statistics.stdev(maps):.1f}"
    assert good.cells[2].value == pytest.approx(
        statistics.fmean(metrics["good", s]["CP"] for s in (0, 1, 2))
    )
    ci = good.comparison.ci
    gain = statistics.fmean(
        metrics["good", s]["mAP"] - metrics["weak", s]["mAP"] for s in (0, 1, 2)
    )
    assert ci.delta == pytest.approx(gain, abs=1e-6)  # seeds side by side: the seed-mean gain
    assert ci.excludes_zero and ci.method == "seeds+images" and weak.comparison is None
    assert len(ci.per_seed) == 3 and good.comparison.seeds == (0, 1, 2)
    assert view.significance == ("mAP", "weak")
    out = render(view, "markdown")
    assert "| weak | default (synth) |" in out and "reference" in out and "]*" in out


def test_runs_rows_and_delta_to_a_measured_row(study_store):
    store, _, metrics = study_store
    view = build_table("lc-coco", store=store, runs=["good0", "weak0"], delta_to="run weak0aaaaa")
    good, weak = view.rows[-2:]
    assert weak.cells[0].text == f"{metrics['weak', 0]['mAP']:.1f}"
    assert good.cells[0].text == f"{metrics['good', 0]['mAP'] - metrics['weak', 0]['mAP']:+.1f}"
    assert good.cells[3].value == pytest.approx(metrics["good", 0]["CF1_top3"])  # CF1 (Top-3)
    assert len(good.comparison.ci.per_seed) == 1 and view.significance[1] == "run weak0aaaaa"
    assert not good.comparison.ci.seed_variance_known and not good.comparison.star


def test_seed_pairs_on_different_images_are_resampled_apart(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    a, b = [], []
    for seed in (0, 1):
        images = np.arange(40) + 100 * seed
        add_run(store, f"a{seed}", SYNTH, strength=0.5, seed=seed, images=images)
        add_run(store, f"b{seed}", SYNTH, strength=0.0, seed=seed, images=images)
        a.append(store.get(f"a{seed}"))
        b.append(store.get(f"b{seed}"))
    result = compare_runs(a, b, n_boot=200)
    assert result.seeds == (0, 1) and result.ci.delta > 0 and len(result.ci.per_seed) == 2
    assert compare_runs(a[:1], b[1:2]).reason == "the runs were not scored on the same images"


def test_voc_table_takes_a_voc_run_and_refuses_another(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    _, per_class = add_run(store, "vocrun", VOC, strength=0.4)
    add_run(store, "synthrun", SYNTH, strength=0.4)
    view = build_table("voc", store=store, runs=["vocrun"])
    assert view.rows[-1].cells[0].value == pytest.approx(per_class["aeroplane"])  # "areoplane"
    with pytest.raises(ValueError, match="missing: aeroplane"):
        build_table("voc", store=store, runs=["synthrun"])


def test_partial_label_columns_take_the_run_with_that_share_dropped(tmp_path):
    store = Store(str(tmp_path / "s.sqlite"))
    metrics, _ = add_run(store, "drop30", SYNTH, strength=0.4, drop=0.3)
    row = build_table("lc-partial", store=store, runs=["drop30"]).rows[-1]
    filled = [c.value for c in row.cells]
    assert filled[2] == pytest.approx(metrics["mAP"])  # the 30% column
    assert filled[:2] == [None, None] and filled[3:] == [None] * 6


def test_cli_measured_rows_and_every_error(tmp_path, study_store):
    store, study, _ = study_store
    st = ["--store", store.url]
    ok = runner.invoke(app, ["table", "coco", "--study", str(study.path), "--format", "latex", *st])
    assert ok.exit_code == 0, ok.output
    assert r"good & default (synth)" in ok.output and r"$\pm$" in ok.output
    add_run(store, "synthvoc", SYNTH, strength=0.3)
    cases = [
        (["table", "nope"], "unknown table 'nope'; known: coco, voc, srn-nus"),
        (["table", "coco", "--runs", "zzz", *st], "no run 'zzz'"),
        (["table", "coco", "--delta-to", "Nobody"], "no single row 'Nobody' in table coco"),
        (["table", "voc", "--runs", "synthvoc", *st], "is per class over 20 classes"),
        (["table", "coco", "--format", "html"], "unknown format 'html'"),
        (["table", "coco", "--version", "v9"], "no version 'v9'; known: icassp2022, preprint"),
        (["table", "coco", "--study", "context_ratio", *st], "no finished run of study"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    rows = " ".join(runner.invoke(app, ["table", "coco", "--delta-to", "Nobody"]).output.split())
    assert "C-Tran" in rows and "The Proposed" in rows  # the rows are listed


def test_help_lists_the_tables():
    result = runner.invoke(app, ["table", "--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in table_names())


def test_study_table_shows_each_arms_interval_to_the_reference(study_store):
    store, study, metrics = study_store
    table = study_table(study_runs(store, study))
    assert set(table.comparisons) == {"good"}
    good = table.comparisons["good"]
    gain = statistics.fmean(
        metrics["good", s]["mAP"] - metrics["weak", s]["mAP"] for s in (0, 1, 2)
    )
    assert good.ci.delta == pytest.approx(gain, abs=1e-6) and good.seeds == (0, 1, 2)
    console = Console(width=200, record=True)
    console.print(cli_render.study_table(table))
    out = console.export_text()
    assert "ΔmAP vs ref [95% CI]" in out and "reference" in out
    assert good.text() in out and good.text().endswith("*")


@pytest.mark.slow  # a real smoke study: about 15 s alone, much more on a busy machine
def test_smoke_study_end_to_end_table_and_significance(tmp_path):
    store = str(tmp_path / "store.sqlite")
    run = runner.invoke(app, ["run", "study", "context_ratio", "--smoke", "--store", store])
    assert run.exit_code == 0, run.output
    assert "ΔmAP vs ref [95% CI]" in run.output and "reference" in run.output
    table = runner.invoke(
        app,
        [
            "table",
            "coco",
            "--study",
            "context_ratio",
            "--smoke",
            "--format",
            "csv",
            "--store",
            store,
        ],
    )
    assert table.exit_code == 0, table.output
    last = table.output.splitlines()[-1].split(",")
    assert last[0] == "ratio 10.0" and last[1] == "default (synth)" and last[2] == "1"
    assert not math.isnan(float(last[3]))
