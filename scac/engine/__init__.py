"""Training engine: phases, prediction, synthetic pretraining, and one run end to end."""

from scac.engine.run import RunResult, run_experiment, run_identity
from scac.engine.train import Callbacks, NonFiniteLossError

__all__ = ["Callbacks", "NonFiniteLossError", "RunResult", "run_experiment", "run_identity"]
