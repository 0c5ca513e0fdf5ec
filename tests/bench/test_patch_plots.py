"""Patch drawings: the boxes drawn are the model's patches and their expansion at the ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bench.cli.main import app
from bench.plots import patches as pp
from bench.store import Store
from scac.cache import default_cache_dir
from scac.data.batch import collate
from scac.engine.inspect import attention_view, dataset_index, expanded, patch_view
from tests.bench.test_train_cli import TINY

runner = CliRunner()


def _train(store: str, *sets: str) -> str:
    args = ["train", "synth", *TINY, "--store", store]
    for s in sets:
        args += ["--set", s]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return Store(store).list_runs()[-1]["run_key"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A store with two finished tiny SCAC runs (ratio 1.0 and 5.0) and a baseline run."""
    folder = tmp_path_factory.mktemp("patches")
    store = str(folder / "s.sqlite")
    one = _train(store, "model.context_ratio=1.0")
    five = _train(store, "model.context_ratio=5.0")
    return store, one, five


def _view(store: str, key: str, image: int | None = None):
    _, parts = pp.load_run(Store(store), key, default_cache_dir())
    image = parts.data.val.image_ids[1] if image is None else image
    return parts, patch_view(parts.model, parts.data.val, image)


def _boxes(data, kind: str, ratio: float | None = None) -> tuple[list[int], np.ndarray]:
    rows = data[data["kind"] == kind]
    if ratio is not None:
        rows = rows[rows["ratio"] == ratio]
    return rows["patch"].astype(int).tolist(), rows[["x1", "y1", "x2", "y2"]].to_numpy(float)


def test_drawn_boxes_are_the_models_patches_and_their_expansion(runs):
    store, _, five = runs
    parts, view = _view(store, five)
    # the view holds what the model returns for that image, run here independently
    i = dataset_index(parts.data.val, view.image_id)
    with torch.no_grad():
        out = parts.model(collate([parts.data.val.sample(i, flip=False)]).images)
    assert np.array_equal(view.patches, out.label_patches[0].numpy())
    assert np.array_equal(view.context_patches, out.context_patches[0].numpy())
    assert np.allclose(view.fused, out.scores[0].numpy())
    assert view.ratio == 5.0 and view.aggregation == "max"
    plot = pp.patches_figure(view, top=3)
    index, drawn = _boxes(plot.data, "patch")
    top = np.argsort(-view.objectness, kind="stable")[:3].tolist()
    assert index[:3] == top  # the top 3 by objectness first, then deciding patches
    assert np.allclose(drawn, view.patches[index])
    ctx_index, ctx = _boxes(plot.data, "context")  # the top 3's, and where context decides
    deciding = {int(view.deciding["context"][c]) for c in np.flatnonzero(view.fused >= 0.5)}
    assert ctx_index == [i for k, i in enumerate(index) if k < 3 or i in deciding]
    h, w = view.image.shape[:2]
    assert np.allclose(ctx, expanded(view.patches, 5.0, (h, w))[ctx_index], atol=1e-5)
    # every predicted label's deciding patch is drawn, and it holds the branch's best score
    for c in np.flatnonzero(view.fused >= pp.THRESHOLD):
        for branch, decide in view.deciding.items():
            assert int(decide[c]) in index
            assert view.patch_probs[branch][decide[c], c] == view.patch_probs[branch][:, c].max()
    assert set(plot.data.loc[plot.data["kind"] == "score", "series"]) == {
        "object branch",
        "context branch",
        "fused",
    }


def test_context_figure_expands_the_same_patches_at_each_ratio(runs):
    store, one, _ = runs
    _, view = _view(store, one)
    plot = pp.context_figure(view, [1.0, 3.0, 10.0], top=2)
    h, w = view.image.shape[:2]
    for ratio in (1.0, 3.0, 10.0):
        index, patches = _boxes(plot.data, "patch", ratio)
        _, ctx = _boxes(plot.data, "context", ratio)
        assert len(index) == 2 and np.allclose(patches, view.patches[index])
        assert np.allclose(ctx, expanded(view.patches, ratio, (h, w))[index], atol=1e-5)
    _, ctx1 = _boxes(plot.data, "context", 1.0)
    assert np.allclose(ctx1, view.patches[index], atol=1e-5)  # ratio 1: no context
    with pytest.raises(ValueError, match="from 1.0 .no context."):
        pp.context_figure(view, [0.5])


def test_cli_draws_patches_context_and_the_pairs_that_disagree(runs, tmp_path):
    store, one, five = runs
    _, view = _view(store, five)
    image = str(view.image_id)
    out = tmp_path / "p.png"
    result = runner.invoke(
        app, ["plot", "patches", five, "--image", image, "--store", store, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    ctx = tmp_path / "c.png"
    result = runner.invoke(
        app, ["plot", "context", one, "--image", image, "--ratios", "1,3,5,10",
              "--store", store, "--out", str(ctx)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ctx.stat().st_size > 10_000
    pair = tmp_path / "pair.svg"
    result = runner.invoke(
        app, ["plot", "patches", one, "--versus", five, "--images", "2", "--store", store,
              "--out", str(pair)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pair.read_text().count("<svg") == 1


def test_disagreements_rank_images_by_the_ambiguous_classes(runs):
    store, one, five = runs
    db = Store(store)
    from scac.predictions import Predictions

    a, b = (Predictions.load(db.artifacts_dir(k) / "predictions.npz") for k in (one, five))
    ids = pp.disagreements(a, b, 3)
    cols = [i for i, g in enumerate(a.class_groups) if g == "ambiguous"]
    assert cols  # the synthetic benchmark marks its look-alikes
    gap = np.abs(a.scores[:, cols] - b.scores[:, cols]).sum(1)
    assert [int(a.image_ids[i]) for i in np.argsort(-gap, kind="stable")[:3]] == ids


def test_bad_input_is_a_clear_error(runs, tmp_path):
    store, _, five = runs
    result = runner.invoke(app, ["plot", "patches", five, "--image", "999999", "--store", store])
    assert result.exit_code == 2 and "no image 999999 in the evaluation split" in result.output
    result = runner.invoke(app, ["plot", "patches", five, "--store", store])
    assert result.exit_code == 2 and "give --image ID" in result.output
    base = tmp_path / "b.sqlite"
    args = ["train", "baseline-synth", "--store", str(base), "--device", "cpu"]
    args += ["--set", "data.synth.train=8", "--set", "data.synth.val=4"]
    args += ["--set", "model.weights='none'", "--set", "train.phases.0.epochs=1"]
    args += ["--set", "train.phases.1.epochs=1"]
    assert runner.invoke(app, args).exit_code == 0
    key = Store(str(base)).list_runs()[0]["run_key"]
    result = runner.invoke(app, ["plot", "patches", key, "--image", "0", "--store", str(base)])
    assert result.exit_code == 2 and "has no object or context patches" in result.output


def test_srn_runs_draw_their_attention_maps(tmp_path):
    store = str(tmp_path / "srn.sqlite")
    args = ["train", "srn-synth", "--store", store, "--device", "cpu"]
    sets = {"data.synth.train": 8, "data.synth.val": 4, "model.weights": "'none'"}
    sets |= {f"train.phases.{i}.epochs": 1 for i in range(4)}
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    assert runner.invoke(app, args).exit_code == 0
    key = Store(store).list_runs()[0]["run_key"]
    _, parts = pp.load_run(Store(store), key, default_cache_dir())
    image = parts.data.val.image_ids[0]
    view = attention_view(parts.model, parts.data.val, image)
    assert view.attention.shape == (len(view.classes), 8, 8)  # C4 of a 128 px image
    plot = pp.attention_figure(view, top=3)
    shown = list(plot.data["class"])
    assert set(np.asarray(view.classes)[view.targets == 1]) <= set(shown) and len(shown) >= 3
    for _, row in plot.data.iterrows():
        c = view.classes.index(row["class"])
        assert row["peak"] == pytest.approx(view.attention[c].max())
    out = tmp_path / "srn.png"
    result = runner.invoke(
        app, ["plot", "patches", key, "--image", str(image), "--store", store, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
