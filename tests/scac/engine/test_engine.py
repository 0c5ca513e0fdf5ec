"""The engine: deterministic runs, loud non-finite losses, phases that freeze what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scac import numerics
from scac.config import with_overrides
from scac.engine import NonFiniteLossError, RunOptions, run_experiment, run_identity
from scac.engine.pretrain import PretrainSettings, synthetic_backbone_weights
from scac.engine.train import set_frozen
from scac.families import build_model
from scac.predictions import Predictions

# these tests build models with random weights from the global generators
pytestmark = pytest.mark.own_rng

CPU = RunOptions(device="cpu")


def test_same_config_and_seed_give_the_same_numbers(tiny_config, tmp_path):
    cache = tmp_path / "cache"
    a = run_experiment(tiny_config, artifacts_dir=tmp_path / "a", cache_dir=cache, options=CPU)
    b = run_experiment(tiny_config, artifacts_dir=tmp_path / "b", cache_dir=cache, options=CPU)
    assert a.metrics == b.metrics and a.per_class_ap == b.per_class_ap
    pa, pb = (
        Predictions.load(tmp_path / "a" / "predictions.npz"),
        Predictions.load(tmp_path / "b" / "predictions.npz"),
    )
    assert np.array_equal(pa.scores, pb.scores)
    run_experiment(
        with_overrides(tiny_config, {"seed": 1}),
        artifacts_dir=tmp_path / "c",
        cache_dir=cache,
        options=CPU,
    )
    assert not np.array_equal(
        pa.scores, Predictions.load(tmp_path / "c" / "predictions.npz").scores
    )
    assert (tmp_path / "a" / "model.pt").is_file() and (tmp_path / "a" / "train_log.json").is_file()
    assert a.log.steps == 2 * (12 // 4) and set(pa.classes) >= {"ball", "plate", "buoy"}


def test_run_identity_changes_with_config_and_path_not_with_nothing(tiny_config):
    path = numerics.identity("cpu")
    key = run_identity(tiny_config, path)
    assert key == run_identity(with_overrides(tiny_config, {}), path)
    assert key != run_identity(with_overrides(tiny_config, {"model.context_ratio": 2.5}), path)
    assert key != run_identity(with_overrides(tiny_config, {"data.synth.seed": 1}), path)
    assert key != run_identity(tiny_config, numerics.identity("cpu", "native"))


def test_non_finite_loss_fails_naming_the_step(tiny_config, tmp_path):
    cfg = with_overrides(tiny_config, {"train.phases.0.lr": 1e12, "train.phases.0.epochs": 3})
    with pytest.raises(
        NonFiniteLossError,
        match=r"non-finite loss in phase 'frozen', epoch \d+, step \d+: .*total=",
    ):
        run_experiment(cfg, artifacts_dir=tmp_path / "x", cache_dir=tmp_path / "cache", options=CPU)


def test_phases_freeze_named_parts(tiny_config):
    model = build_model(tiny_config.model, 9)
    set_frozen(model, ("backbone",))
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.neck.parameters())
    set_frozen(model, ())
    assert all(p.requires_grad for p in model.backbone.parameters())
    with pytest.raises(ValueError, match=r"cannot freeze \['trunk'\]: the model's parts are"):
        set_frozen(model, ("trunk",))


def test_synthetic_pretraining_is_cached_and_loads(tmp_path):
    settings = PretrainSettings(images=16, epochs=1, batch_size=8, canvas=64)
    path = synthetic_backbone_weights("tiny", tmp_path, settings)
    stamp = path.stat().st_mtime_ns
    assert (
        synthetic_backbone_weights("tiny", tmp_path, settings) == path
        and path.stat().st_mtime_ns == stamp
    )
    from scac.models import build_backbone

    backbone = build_backbone("tiny", path)
    state = torch.load(path, weights_only=True)
    assert torch.equal(backbone.state_dict()["stem.0.weight"], state["stem.0.weight"])
