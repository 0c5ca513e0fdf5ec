"""Shared fixtures: an isolated cache and store per test session, tiny datasets and configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scac.config import load_recipe, with_overrides

ROOT = Path(__file__).resolve().parents[1]

# The recipe's [smoke] shrunk further: a few images, one step per phase, no pretraining.
TINY = {
    "data.synth.train": 12,
    "data.synth.val": 8,
    "data.image_size": 64,
    "data.synth.canvas": 64,
    "model.weights": "none",
    "model.fpn_channels": 16,
    "model.representation_size": 32,
    "model.anchor_sizes": [8, 16, 32, 64],
    "model.roi_canonical_scale": 28,
    "model.rpn_post_nms_top_n": 8,
    "train.batch_size": 4,
    "train.eval_batch_size": 8,
    "train.phases.0.epochs": 1,
    "train.phases.1.epochs": 1,
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Every test gets the session's private cache; no test touches ~/.cache or ./results."""
    cache = tmp_path_factory.getbasetemp() / "scac-cache"
    monkeypatch.setenv("SCAC_CACHE", str(cache))
    monkeypatch.setenv("BENCH_STUDIES", str(ROOT / "studies"))
    monkeypatch.delenv("BENCH_STORE", raising=False)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def tiny_config():
    """The synthetic recipe at test size."""
    return with_overrides(load_recipe(ROOT / "studies" / "recipes" / "synth.toml"), TINY)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic dataset on disk (COCO format), shared by the session."""
    from scac.data.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), seed=3, train=40, val=20)
