"""The frozen-feature cache: same numbers as without it, invalidated by what it depends on."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from scac import RunWarning
from scac.cache import default_cache_dir
from scac.config import PhaseConfig, load_recipe, with_overrides
from scac.engine import RunOptions, run_experiment
from scac.engine.datasets import build_datasets, dataset_root
from scac.engine.feature_cache import (
    FeatureCacheError,
    FrozenFeatures,
    cacheable_stage,
    open_or_build,
)
from scac.families import build_model
from scac.predictions import Predictions

# these tests build models with random weights from the global generators
pytestmark = pytest.mark.own_rng

ROOT = Path(__file__).resolve().parents[3]
# two frozen epochs with flips, so cached (image, flip) pairs are reused across epochs
FROZEN = {"train.phases.0.epochs": 2, "data.hflip": True}

CPU = RunOptions(device="cpu")


def _model_and_data(cfg, cache):
    data = build_datasets(cfg.data, cfg.seed, dataset_root(cfg.data, cache))
    torch.manual_seed(0)
    return build_model(cfg.model, len(data.classes)), data


def test_training_from_the_cache_gives_identical_numbers(tiny_config, tmp_path):
    cfg = with_overrides(tiny_config, FROZEN)
    cache, features = default_cache_dir(), tmp_path / "features"  # the session's datasets
    plain = run_experiment(cfg, artifacts_dir=tmp_path / "a", cache_dir=cache, options=CPU)
    cached = run_experiment(
        cfg,
        artifacts_dir=tmp_path / "b",
        cache_dir=cache,
        options=RunOptions(device="cpu", feature_cache=features),
    )
    assert [d.name.split("-")[0] for d in features.iterdir()] == ["backbone"]  # the frozen CNN
    assert cached.metrics == plain.metrics and cached.per_class_ap == plain.per_class_ap
    assert cached.log.epoch_loss == plain.log.epoch_loss
    a, b = (Predictions.load(tmp_path / x / "predictions.npz").scores for x in "ab")
    assert np.array_equal(a, b)
    wa, wb = (torch.load(tmp_path / x / "model.pt", weights_only=True) for x in "ab")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # another arm reuses the cache: nothing is recomputed (seeds too, when the frozen weights
    # are pretrained; here they are drawn from the seed)
    stamp = {p: p.stat().st_mtime_ns for p in features.rglob("*.npy")}
    run_experiment(
        with_overrides(cfg, {"model.context_ratio": 2.0}),
        artifacts_dir=tmp_path / "c",
        cache_dir=cache,
        options=RunOptions(device="cpu", feature_cache=features),
    )
    assert {p: p.stat().st_mtime_ns for p in features.rglob("*.npy")} == stamp


def test_the_latent_context_transformer_trains_from_the_cache_with_identical_numbers(tmp_path):
    """Its first phase freezes the backbone; dropout in its heads draws the same numbers."""
    cfg = with_overrides(
        load_recipe(ROOT / "studies" / "recipes" / "lc-synth.toml"),
        {  # the data of conftest's tiny config, so the session's dataset serves
            "data.synth.train": 12,
            "data.synth.val": 8,
            "data.image_size": 64,
            "data.synth.canvas": 64,
            "model.input_size": 64,
            "model.weights": "none",
            "model.ffn_dim": 32,
            "train.batch_size": 4,
            "train.eval_batch_size": 8,
            "train.phases.0.warmup_steps": 0,
            "train.phases.1.epochs": 1,
            **FROZEN,
        },
    )
    cache, features = default_cache_dir(), tmp_path / "features"
    plain = run_experiment(cfg, artifacts_dir=tmp_path / "a", cache_dir=cache, options=CPU)
    cached = run_experiment(
        cfg,
        artifacts_dir=tmp_path / "b",
        cache_dir=cache,
        options=RunOptions(device="cpu", feature_cache=features),
    )
    assert [d.name.split("-")[0] for d in features.iterdir()] == ["backbone"]
    assert cached.log.epoch_loss == plain.log.epoch_loss and cached.metrics == plain.metrics
    a, b = (Predictions.load(tmp_path / x / "predictions.npz").scores for x in "ab")
    assert np.array_equal(a, b)


def test_the_stage_follows_what_the_phase_freezes(tiny_config, tmp_path):
    model, _ = _model_and_data(tiny_config, default_cache_dir())
    stage = lambda *frozen: cacheable_stage(model, frozen)  # noqa: E731
    assert stage("backbone", "neck") == "neck"
    assert stage("backbone") == "backbone"
    assert stage("neck") is None and stage() is None  # the neck alone is not a prefix
    phase = PhaseConfig(name="joint", epochs=1, lr=0.01)
    assert FrozenFeatures(model, None, tmp_path).for_phase(phase) is None
    images = torch.zeros(1, 3, 32, 32)
    for call in (
        lambda: model.features("heads", images),
        lambda: model.forward_from("rpn", {}, images),
    ):
        with pytest.raises(ValueError, match="unknown stage"):
            call()


def test_key_parts_invalidate_the_cache(tiny_config, tmp_path):
    cfg = with_overrides(tiny_config, {"data.hflip": True})
    model, data = _model_and_data(cfg, default_cache_dir())
    root = tmp_path / "features"
    first = open_or_build(model, data.train, "neck", root)
    assert first.levels["p2"].shape[:2] == (len(data.train), 2)  # every image, both flips
    assert open_or_build(model, data.train, "neck", root).folder == first.folder
    # other frozen weights, another stage, no flips, another input size: other caches
    with torch.no_grad():
        model.neck.fpn.inner_blocks[0][0].weight.add_(1.0)
    changed = open_or_build(model, data.train, "neck", root).folder
    backbone = open_or_build(model, data.train, "backbone", root).folder
    assert len({first.folder, changed, backbone}) == 3
    data.train.hflip = False
    assert open_or_build(model, data.train, "neck", root).folder not in (first.folder, changed)
    small_cfg = with_overrides(cfg, {"data.image_size": 48}).data
    small = build_datasets(small_cfg, 0, dataset_root(small_cfg, default_cache_dir()))
    smaller = open_or_build(model, small.train, "neck", root)
    assert smaller.levels["p2"].shape[-1] == 12 and len(list(root.iterdir())) == 5


def test_truncated_cache_is_named_and_rebuilt(tiny_config, tmp_path):
    model, data = _model_and_data(tiny_config, default_cache_dir())
    root = tmp_path / "features"
    cache = open_or_build(model, data.train, "neck", root)
    want = np.array(cache.levels["p3"])
    p3 = cache.folder / "p3.npy"
    del cache
    size = p3.stat().st_size
    with open(p3, "r+b") as fh:  # a disk that filled up, or a copy cut short
        fh.truncate(size // 2)
    with pytest.warns(UserWarning, match=r"truncated or unreadable feature cache file .*p3\.npy"):
        again = open_or_build(model, data.train, "neck", root)
    assert p3.stat().st_size == size and np.array_equal(np.array(again.levels["p3"]), want)


def test_a_file_overwritten_with_zeros_is_named_and_rebuilt(tiny_config, tmp_path):
    """Issue 15: zeros of the same size were read as features, and the runs finished with other
    numbers (54.0 became 53.1 mAP) under the same run keys; only size and shape were checked."""
    model, data = _model_and_data(tiny_config, default_cache_dir())
    root = tmp_path / "features"
    cache = open_or_build(model, data.train, "neck", root)
    want = {name: np.array(arr) for name, arr in cache.levels.items()}
    p2 = cache.folder / "p2.npy"
    del cache
    size = p2.stat().st_size
    with open(p2, "r+b") as fh:  # keep the .npy header: same shape, same size, zero data
        np.lib.format.read_magic(fh)
        np.lib.format.read_array_header_1_0(fh)
        fh.write(b"\0" * (size - fh.tell()))
    assert p2.stat().st_size == size and np.load(p2, mmap_mode="r").shape == want["p2"].shape
    with pytest.warns(RunWarning, match=r"cache file .*p2\.npy does not match its checksum"):
        again = open_or_build(model, data.train, "neck", root)
    assert all(np.array_equal(np.array(again.levels[k]), v) for k, v in want.items())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # intact now: opened without a word
        open_or_build(model, data.train, "neck", root)


def test_a_killed_fill_leaves_no_cache(tiny_config, tmp_path):
    model, data = _model_and_data(tiny_config, default_cache_dir())
    root = tmp_path / "features"

    def die(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        open_or_build(model, data.train, "neck", root, progress=die)
    assert list(root.iterdir()) == []
    meta = json.loads(
        (open_or_build(model, data.train, "neck", root).folder / "meta.json").read_text()
    )
    assert meta["complete"] and meta["key"]["stage"] == "neck"


def test_a_cache_over_its_limit_is_refused_with_the_sizes(tiny_config, tmp_path):
    model, data = _model_and_data(tiny_config, default_cache_dir())
    with pytest.raises(FeatureCacheError, match=r"would need 0\.\d MB; the limit is 0\.0 MB"):
        open_or_build(model, data.train, "neck", tmp_path / "f", limit_gb=1e-5)
    phase = with_overrides(tiny_config, {}).train.phases[0]
    frozen = FrozenFeatures(model, data.train, tmp_path / "f", limit_gb=1e-5)
    with pytest.warns(UserWarning, match="runs without the cache"):
        assert frozen.for_phase(phase) is None
