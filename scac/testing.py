"""Tiny configs for tests and examples: every model family at test size, in one place.

``tiny_config("srn")`` is a run config that trains in seconds on a CPU: the synthetic benchmark
at 64 px with 12 training and 8 evaluation images, two one-epoch phases (backbone frozen, then
joint), no pretrained weights, and the family's own ``tiny`` model overrides.
"""

from __future__ import annotations

from typing import Any

from scac.config import RunConfig, with_overrides
from scac.families import FAMILIES, ModelConfig

TINY_RUN: dict[str, Any] = {
    "data.format": "synth",
    "data.synth.train": 12,
    "data.synth.val": 8,
    "data.image_size": 64,
    "data.synth.canvas": 64,
    "train.batch_size": 4,
    "train.eval_batch_size": 8,
    "train.grad_clip": 5.0,
    "train.phases": [
        {"name": "frozen", "epochs": 1, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
         "freeze": ["backbone"]},
        {"name": "joint", "epochs": 1, "lr": 0.005, "momentum": 0.9, "weight_decay": 1e-4},
    ],
}  # fmt: skip


def tiny_config(name: str = "scac", **overrides: Any) -> RunConfig:
    """The test-size run config of family ``name``, with dotted-key ``overrides`` last."""
    family = FAMILIES.get(name)
    return with_overrides(RunConfig(), {"model.name": name, **TINY_RUN, **family.tiny, **overrides})


def tiny_model(name: str) -> ModelConfig:
    """The test-size ``model`` section of family ``name``."""
    return tiny_config(name).model
