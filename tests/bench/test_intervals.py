"""A study's stars count the seeds: tables, the report and the CLI on a crafted store."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.store import Store
from bench.store.owner import Owner
from bench.studies.files import load_study
from bench.studies.selection import study_runs
from bench.tables.study import study_table
from scac.metrics import summarize
from scac.predictions import Predictions

runner = CliRunner()
CLASSES = ["ball", "plate", "buoy", "kite", "bottle", "clock"]
STUDY = """
question = "Do the seeds agree?"
recipe = "synth"
seeds = [0, 1, 2]
reference = "ref"
metrics = ["mAP", "CF1"]

[[arms]]
name = "ref"
reason = "the reference"

[[arms]]
name = "steady"
reason = "gains under every seed"
set = { "model.context_ratio" = 3.0 }

[[arms]]
name = "flaky"
reason = "one seed loses (the objectness-gated pattern)"
set = { "model.context_ratio" = 5.0 }
"""
# each arm's shift of its positives' logits, per seed (the reference: 0)
SHIFTS = {"ref": (0.0, 0.0, 0.0), "steady": (0.6, 0.55, 0.65), "flaky": (0.6, -0.5, 0.7)}


def _add(store: Store, arm: str, seed: int, shift: float) -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((400, len(CLASSES))) < 0.3).astype(np.uint8)
    base = 1.5 * targets + rng.normal(0, 1, targets.shape)
    noise = np.random.default_rng([seed, 9]).normal(0, 0.05, targets.shape)
    logits = (base + noise + shift * targets).astype(np.float32)
    key = f"{arm}{seed}".ljust(16, "0")
    store.link("crafted", arm, seed, key, "scac", {"seed": seed, "data": {"format": "synth"}})
    owner = Owner.this_process()
    store.claim(key, owner, git_commit=None, versions={}, device="cpu")
    pred = Predictions(
        scores=1 / (1 + np.exp(-logits)), targets=targets, mask=np.ones(targets.shape, bool),
        image_ids=np.arange(400), classes=CLASSES, class_groups=[""] * len(CLASSES),
        logits=logits,
    )  # fmt: skip
    store.artifacts_dir(key).mkdir(parents=True, exist_ok=True)
    pred.save(store.artifacts_dir(key) / "predictions.npz")
    metrics, per_class = summarize(pred)
    store.finish(key, owner, metrics=metrics, per_class_ap=per_class, wall_seconds=0.1)


@pytest.fixture
def crafted(tmp_path):
    path = tmp_path / "crafted.toml"
    path.write_text(STUDY)
    store = Store(str(tmp_path / "s.sqlite"))
    for arm, shifts in SHIFTS.items():
        for seed, shift in enumerate(shifts):
            _add(store, arm, seed, shift)
    return store, str(path)


def test_seeds_that_disagree_get_no_star(crafted):
    store, path = crafted
    selected = study_runs(store, load_study(path))
    table = study_table(selected)
    steady, flaky = table.comparisons["steady"], table.comparisons["flaky"]
    assert steady.star and not flaky.star and flaky.ci.seeds_disagree
    caption = "\n".join(table.caption())
    assert "over seeds and images" in caption and "Holm's correction over 2 comparisons" in caption
    assert "seeds disagree in sign: flaky" in caption
    images = study_table(selected, ci="images")
    assert images.comparisons["flaky"].star  # the image-only interval would have starred it
    assert "over images only" in "\n".join(images.caption())


def test_the_cli_shows_each_seed_and_the_chance_to_improve(crafted):
    store, path = crafted
    result = runner.invoke(app, ["table", "coco", "--study", path, "--store", store.url])
    assert result.exit_code == 0, result.output
    assert "Holm" in result.output
    report = runner.invoke(
        app, ["report", "study", path, "--store", store.url, "--out", f"{store.url[10:]}.html"]
    )
    assert report.exit_code == 0, report.output
    page = open(f"{store.url[10:]}.html", encoding="utf-8").read()
    assert "ΔmAP per seed" in page and "P(&gt; ref)" in page and "s1 -" in page
    assert "Differences to the reference" in page and "Holm" in page


def test_an_unknown_interval_is_named(crafted):
    store, path = crafted
    result = runner.invoke(app, ["table", "coco", "--study", path, "--store", store.url,
                                 "--ci", "bayes"])  # fmt: skip
    assert result.exit_code != 0 and "--ci must be one of" in result.output


def test_threads_give_the_numbers_of_one_comparison_at_a_time(crafted):
    from bench.comparisons import paired as compare

    store, path = crafted
    selected = study_runs(store, load_study(path))
    jobs = {arm: (selected.records(arm), selected.records("ref")) for arm in ("steady", "flaky")}
    compare._REPLICATES.clear()
    together = compare.compare_many(jobs, workers=2)
    compare._REPLICATES.clear()
    alone = {arm: compare.compare_runs(*pair) for arm, pair in jobs.items()}
    for arm in jobs:
        a, b = together[arm].ci, alone[arm].ci
        assert (a.delta, a.low, a.high, a.p_improve) == (b.delta, b.low, b.high, b.p_improve)
