"""Other codebases' predictions, scored by ours: every format, every mismatch named."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from scac.foreign import ForeignPredictionsError, read_predictions, read_truth
from scac.metrics import evaluate_predictions

runner = CliRunner()
CLASSES = ["person", "bicycle", "car", "dog"]


def mlgcn_average_precision(output: np.ndarray, target: np.ndarray) -> float:
    """ML-GCN's ``AveragePrecisionMeter.average_precision`` (util.py), line for line in numpy."""
    epsilon = 1e-8
    indices = np.argsort(-output, kind="stable")
    total_count_ = np.cumsum(np.ones(len(output)))
    target_ = target[indices]
    ind = target_ == 1
    pos_count_ = np.cumsum(ind).astype(float)
    total = pos_count_[-1]
    pos_count_[np.logical_not(ind)] = 0
    pp = pos_count_ / total_count_
    return float(np.sum(pp) / (total + epsilon))


@pytest.fixture
def handmade(tmp_path):
    """A COCO annotation file and a CSV of scores, written by hand (not by this toolkit)."""
    rng = np.random.default_rng(3)
    n = 40
    image_ids = [1000 + 7 * i for i in range(n)]
    labels = rng.random((n, len(CLASSES))) < 0.35
    labels[0] = True  # every class has a positive
    coco = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 64}
                   for i in image_ids],
        "annotations": [
            {"id": 10 * k + j, "image_id": i, "category_id": j + 1, "bbox": [1, 1, 9, 9],
             "iscrowd": 0}
            for k, i in enumerate(image_ids) for j in range(len(CLASSES)) if labels[k, j]
        ],
        "categories": [{"id": j + 1, "name": c} for j, c in enumerate(CLASSES)],
    }  # fmt: skip
    truth = tmp_path / "instances_val.json"
    truth.write_text(json.dumps(coco))
    scores = np.round(np.clip(rng.random(labels.shape) * 0.7 + 0.3 * labels, 0, 1), 6)
    order = rng.permutation(n)  # the CSV lists the images in another order, classes too
    columns = ["dog", "person", "car", "bicycle"]
    with (tmp_path / "scores.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img", *columns])
        for k in order:
            w.writerow([image_ids[k], *(scores[k, CLASSES.index(c)] for c in columns)])
    return tmp_path, labels, scores, image_ids


def test_a_handmade_csv_scores_as_mlgcn_scores_it(handmade):
    folder, labels, scores, _ = handmade
    truth = read_truth(folder / "instances_val.json")
    pred = read_predictions(folder / "scores.csv", truth)
    ours = evaluate_predictions(pred, "mlgcn").metrics["mAP"]
    theirs = 100 * np.mean(
        [mlgcn_average_precision(scores[:, j], labels[:, j]) for j in range(len(CLASSES))]
    )
    assert ours == pytest.approx(theirs, abs=1e-6)
    result = runner.invoke(
        app, ["eval", str(folder / "scores.csv"), "--truth", str(folder / "instances_val.json"),
              "--protocol", "mlgcn"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{theirs:.2f}" in result.output


def test_every_format_reads_the_same_scores(handmade):
    folder, _, scores, image_ids = handmade
    truth = read_truth(folder / "instances_val.json")
    want = read_predictions(folder / "scores.csv", truth).scores
    np.save(folder / "s.npy", scores)  # the truth's image and class order
    np.savez(folder / "s.npz", scores=scores[::-1], image_ids=np.array(image_ids[::-1]),
             classes=np.array(CLASSES))  # fmt: skip
    entries = [{"image_id": i, "labels": CLASSES, "scores": scores[k].tolist()}
               for k, i in enumerate(image_ids)]  # fmt: skip
    (folder / "s.json").write_text(json.dumps(entries))
    for name in ("s.npy", "s.npz", "s.json"):
        got = read_predictions(folder / name, truth)
        assert np.array_equal(got.scores, want), name
    labels_csv = folder / "labels.csv"
    with labels_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", *CLASSES])
        for k, i in enumerate(image_ids):
            w.writerow([i, *(int(v) for v in truth.targets[k])])
    from_csv = read_predictions(folder / "scores.csv", read_truth(labels_csv), id_column="img")
    assert np.array_equal(from_csv.targets, truth.targets)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[:-1], "images do not match .* missing 1"),
        (lambda rows: [*rows, ["99999", "0.1", "0.1", "0.1", "0.1"]], "not in the truth 1"),
        (lambda rows: [*rows, rows[1]], "images listed twice: "),
        (
            lambda rows: [["img", "dog", "person", "cat", "bicycle"], *rows[1:]],
            r"classes do not match .* unknown 1 \(e.g. 'cat'\)",
        ),
        (lambda rows: [rows[0], [rows[1][0], "3.5", *rows[1][2:]], *rows[2:]], "outside .0, 1."),
        (lambda rows: [rows[0], [rows[1][0], "x", *rows[1][2:]], *rows[2:]], "not a number"),
    ],
)
def test_a_mismatch_is_named(handmade, edit, message):
    folder = handmade[0]
    rows = list(csv.reader((folder / "scores.csv").open()))
    with (folder / "bad.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(edit(rows))
    with pytest.raises(ForeignPredictionsError, match=message):
        read_predictions(folder / "bad.csv", read_truth(folder / "instances_val.json"),
                         kind="probability")  # fmt: skip


def test_two_files_are_compared_image_by_image(handmade):
    folder, labels, scores, image_ids = handmade
    np.save(folder / "weak.npy", np.random.default_rng(0).random(scores.shape))
    result = runner.invoke(
        app, ["eval", str(folder / "scores.csv"), str(folder / "weak.npy"), "--truth",
              str(folder / "instances_val.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ΔmAP +" in result.output and "run-to-run chance is not counted" in result.output


def test_a_file_becomes_a_row_beside_the_papers(handmade):
    folder, labels, scores, _ = handmade
    truth = str(folder / "instances_val.json")
    want = evaluate_predictions(
        read_predictions(folder / "scores.csv", read_truth(truth)), "mlgcn"
    ).metrics
    result = runner.invoke(
        app, ["table", "coco", "--predictions", f"mine={folder / 'scores.csv'}", "--truth", truth,
              "--protocol", "mlgcn", "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = next(r for r in csv.reader(result.output.splitlines()) if r and r[0] == "mine")
    assert f"{want['mAP']:.1f}" in row and f"{want['OF1']:.1f}" in row
    assert "SRN" in result.output  # the paper's rows stay
    # a per-class table names the classes a 4-class file lacks
    result = runner.invoke(
        app, ["table", "voc", "--predictions", f"mine={folder / 'scores.csv'}", "--truth", truth],
    )  # fmt: skip
    assert result.exit_code != 0 and "missing: aeroplane" in result.output
    result = runner.invoke(app, ["table", "coco", "--predictions", "scores.csv", "--truth", truth])
    assert result.exit_code != 0 and "NAME=FILE" in result.output
