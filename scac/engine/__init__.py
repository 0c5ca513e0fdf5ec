"""Training engine: assets, phases, prediction, synthetic pretraining, and one run end to end."""

from scac.engine.run import (
    Assembly,
    RunOptions,
    RunResult,
    assemble,
    model_and_objective,
    resolve_device,
    run_experiment,
    run_identity,
)
from scac.engine.train import Callbacks, NonFiniteLossError

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
