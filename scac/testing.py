"""Tiny configs for tests and examples: every model family at test size, in one place.

``tiny_config("srn")`` is a run config that trains in seconds on a CPU: the synthetic benchmark
at 64 px with 12 training and 8 evaluation images, two one-epoch phases (backbone frozen, then
joint), no pretrained weights, and the family's own ``tiny`` model overrides.
``small_overrides("srn")`` shrinks a family's synthetic recipe instead (the golden values and
the command-line tests run at it), from the same data sizes and the family's ``small`` keys.
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


# the synthetic benchmark at test size: what every family's ``small`` recipe runs on
SMALL_DATA: dict[str, Any] = {
    "data.synth.train": 12,
    "data.synth.val": 8,
    "data.image_size": 64,
    "data.synth.canvas": 64,
    "model.weights": "none",
}


def small_overrides(name: str = "scac", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Overrides that shrink family ``name``'s synthetic recipe to test size (its backbone
    kept, no pretrained weights): the family's name, the small data, its ``small`` model
    keys, then ``extra`` (dotted keys)."""
    return {"model.name": name, **SMALL_DATA, **FAMILIES.get(name).small, **(extra or {})}


def tiny_config(name: str = "scac", **overrides: Any) -> RunConfig:
    """The test-size run config of family ``name``, with dotted-key ``overrides`` last."""
    family = FAMILIES.get(name)
    return with_overrides(RunConfig(), {"model.name": name, **TINY_RUN, **family.tiny, **overrides})


def tiny_model(name: str) -> ModelConfig:
    """The test-size ``model`` section of family ``name``."""
    return tiny_config(name).model
