"""Bad input and damaged files at the command line: one row each, one clear line, no traceback.

Every row is a command on prepared files (a store holding the main job's smoke study only, a
damaged predictions file, COCO annotations with faults, a damaged Optuna journal...), the exit
code it must end with and a word its message must hold; none may print a traceback. The next
bad input found is one more row.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory, finished_smoke) -> dict[str, str]:
    """Paths the rows use, ``{name}`` in their arguments."""
    root = tmp_path_factory.mktemp("bad")
    store = finished_smoke(root / "smoke")
    run = Store(store).list_runs()[0]["run_key"]
    # a predictions file with bytes flipped inside its compressed arrays
    damaged = root / "damaged.npz"
    shutil.copy(Path(Store(store).get(run).artifacts) / "predictions.npz", damaged)
    data = bytearray(damaged.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    damaged.write_bytes(data)
    # COCO trees: a box given as a string; an image without file_name
    for name, image, ann in (
        ("coco-box", {"id": 1, "file_name": "a.jpg", "width": 8, "height": 8},
         {"id": 1, "image_id": 1, "category_id": 1, "bbox": "1,1,4,4"}),
        ("coco-file", {"id": 1, "width": 8, "height": 8},
         {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]}),
    ):  # fmt: skip
        (root / name / "annotations").mkdir(parents=True)
        (root / name / "train").mkdir()
        (root / name / "annotations" / "instances_train.json").write_text(
            json.dumps(
                {"images": [image], "annotations": [ann], "categories": [{"id": 1, "name": "ball"}]}
            )  # fmt: skip
        )
    journal = root / "journal.log"
    journal.write_text(
        '{"op_code": 0, "worker_id": "x", "study_name": "a", "directions": [1]}\n'
        '{"op_code": 4, "worker_id": "x" "study_id": 0\n{"op_code": 0}\n'
    )
    (root / "a-file").write_text("not a folder")
    (root / "bare").mkdir()  # the store copied without its runs/ folder
    with sqlite3.connect(store) as conn:  # its write-ahead log into the file first
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(store, root / "bare" / "s.sqlite")
    return {"store": store, "run": run, "damaged": str(damaged), "root": str(root),
            "journal": str(journal), "file": str(root / "a-file")}  # fmt: skip


# (arguments, exit code, a word the message holds): one row per bad input
# fmt: off
ROWS = [
    ("run study [/bold]x --smoke --store {store}", 2, "unknown study"),
    ("results show [/] --store {store}", 2, "no run '[/]'"),
    ("report study context_ratio --smoke --store {store} --out {root}/x.png", 2, ".html"),
    ("report study context_ratio --smoke --store {store} --out {file}/x.html", 2, "cannot write"),
    ("report study context_ratio --store {store} --out {root}/r.html", 2, "add --smoke"),
    ("table coco --study context_ratio --store {store}", 2, "add --smoke"),
    ("results export-tb {root}/tb --study context_ratio --store {store}", 2, "add --smoke"),
    ("results export-tb {file} --store {store}", 2, "is a file"),
    ("eval {damaged}", 2, "not a readable predictions file"),
    ("data check {root}/coco-box --split train", 1, "bbox must be 4 numbers"),
    ("data check {root}/coco-file --split train", 1, "has no 'file_name'"),
    ("worker --storage {journal} --store {store}", 2, "is damaged"),
    ("plot curves --store {store}", 2, "give run ids"),
    ("plot context {run} --image 1 --ratios 1,1e9,nan --store {store} --out {root}/c.png", 2,
     "ratios must be numbers from 1.0"),
    ("table coco --study context_ratio --smoke --ci bayes --store {store}", 2, "--ci must be"),
    ("table coco --study context_ratio --smoke --store {root}/bare/s.sqlite", 0,
     "n/a: run"),
    # a fresh round (issue 33): nonsense counts refused, grids named, the queue's own option
    ("run study context_ratio --workers -3 --smoke --store {store}", 2, "--workers"),
    ("sweep loss_weights --trials -1 --smoke --store {store}", 2, "--trials"),
    ("run grid synth --vary model.context_ratio=1,abc --name g --smoke --store {store}", 2,
     "must be a number"),
    ("run grid synth --vary model.context_ratio=1,2 --name ../g --store {store}", 2,
     "a plain study name"),
    ("run grid synth --vary model.context_ratio --name g --store {store}", 2, "key=value1"),
    ("run grid synth --vary model.context_ratio=1,2 --name context_ratio --store {store}", 2,
     "already exists"),
    ("worker --queue-storage {journal} --store {store}", 2, "is damaged"),
]
# fmt: on


@pytest.mark.parametrize(("args", "code", "word"), ROWS, ids=lambda v: None)
def test_a_bad_input_is_one_clear_line(files, args, code, word):
    result = runner.invoke(app, [a.format(**files) for a in args.split()])
    out = " ".join(result.output.split())
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    ), result.output
    assert result.exit_code == code, result.output
    assert " ".join(word.split()) in out, result.output
