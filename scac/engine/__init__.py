"""Training engine: assets, phases, prediction, synthetic pretraining, and one run end to end.

The names below load with their module on first use (PEP 562): the engine's light modules
(``scac.engine.identity``, ``scac.engine.callbacks``, ``scac.engine.pretrain_settings``) load
no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "Assembly": "run",
    "RunOptions": "run",
    "RunResult": "run",
    "assemble": "run",
    "model_and_objective": "run",
    "resolve_device": "run",
    "run_experiment": "run",
    "run_identity": "identity",
    "Callbacks": "callbacks",
    "NonFiniteLossError": "train",
}

__all__ = [
    "Assembly",
    "Callbacks",
    "NonFiniteLossError",
    "RunOptions",
    "RunResult",
    "assemble",
    "model_and_objective",
    "resolve_device",
    "run_experiment",
    "run_identity",
]

if TYPE_CHECKING:
    from scac.engine.callbacks import Callbacks
    from scac.engine.identity import run_identity
    from scac.engine.run import (
        Assembly,
        RunOptions,
        RunResult,
        assemble,
        model_and_objective,
        resolve_device,
        run_experiment,
    )
    from scac.engine.train import NonFiniteLossError


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scac.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scac.engine.{_HOMES[name]}"), name)
