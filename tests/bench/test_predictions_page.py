"""docs/predictions.md: its formats and its protocol table, recomputed from a fixture in the real
formats (COCO annotations, a CSV of scores written the way other codebases write them).

When this fails, the page no longer says what the toolkit computes: the assertion prints the
table as it is now, to paste into the page.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from bench.cli.main import app
from scac.foreign import read_predictions, read_truth
from scac.metrics import PROTOCOLS, evaluate, evaluate_predictions

PAGE = Path(__file__).resolve().parents[2] / "docs" / "predictions.md"
CLASSES = ["person", "bicycle", "car", "dog", "toaster"]
runner = CliRunner()


def write_fixture(folder: Path) -> tuple[Path, Path]:
    """``instances_val2014.json`` (200 images, five categories, no toaster among them) and
    ``scores.csv`` rounded to two decimals, as a ``%.2f`` export writes it (so scores tie)."""
    rng = np.random.default_rng(2022)
    n = 200
    ids = [391895 + 13 * i for i in range(n)]
    labels = rng.random((n, len(CLASSES))) < [0.5, 0.1, 0.3, 0.15, 0.0]
    coco = {
        "images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg", "width": 640,
                    "height": 480} for i in ids],
        "annotations": [
            {"id": 100 * k + j, "image_id": i, "category_id": [1, 2, 3, 18, 80][j],
             "bbox": [10.0, 20.0, 50.0, 60.0], "area": 3000.0, "iscrowd": 0}
            for k, i in enumerate(ids) for j in range(len(CLASSES)) if labels[k, j]
        ],
        "categories": [{"id": c, "name": name, "supercategory": "x"}
                       for c, name in zip([1, 2, 3, 18, 80], CLASSES, strict=True)],
    }  # fmt: skip
    truth = folder / "instances_val2014.json"
    truth.write_text(json.dumps(coco))
    logits = rng.normal(-1.0, 1.0, labels.shape) + 2.2 * labels
    probs = 1 / (1 + np.exp(-logits))
    scores = folder / "scores.csv"
    with scores.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_id", *CLASSES])
        for i, row in zip(ids, probs, strict=True):
            w.writerow([i, *(f"{p:.2f}" for p in row)])
    return truth, scores


def protocol_table(truth: Path, scores: Path) -> str:
    """The page's table: each protocol's mAP over the five classes and over the four with
    positives, and its CF1, OF1 and CF1 top-3, on the fixture."""
    pred = read_predictions(scores, read_truth(truth))
    lines = [
        "| protocol | mAP, 5 classes | mAP, 4 classes | CF1 | OF1 | CF1 top-3 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    four = slice(0, 4)  # toaster, the fifth, has no positive
    for name in PROTOCOLS.names():
        m = evaluate(pred.scores[:, four], pred.targets[:, four], pred.mask[:, four],
                     protocol=name, classes=CLASSES[:4]).metrics  # fmt: skip
        try:
            five = f"{evaluate_predictions(pred, name).metrics['mAP']:.2f}"
        except ValueError:
            five = "refuses"
        cells = (f"{m[k]:.2f}" for k in ("mAP", "CF1", "OF1", "CF1_top3"))
        lines.append(f"| `{name}` | {five} | {' | '.join(cells)} |")
    return "\n".join(lines)


def test_the_page_shows_what_the_fixture_gives(tmp_path):
    truth, scores = write_fixture(tmp_path)
    table = protocol_table(truth, scores)
    assert table in PAGE.read_text(), f"docs/predictions.md's table is now:\n{table}"


def test_the_pages_commands_run(tmp_path):
    truth, scores = write_fixture(tmp_path)
    text = PAGE.read_text()
    for args in (
        ["eval", str(scores), "--truth", str(truth), "--protocol", "torchmetrics"],
        ["table", "coco", "--predictions", f"mine={scores}", "--truth", str(truth),
         "--protocol", "torchmetrics"],
    ):  # fmt: skip
        shown = " ".join(re.sub(r"/\S*/", "", a) for a in args)  # file names, as on the page
        assert f"bench {shown}" in " ".join(text.split()), shown
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
