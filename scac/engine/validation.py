"""Validation after every epoch, as a callback (runs asked for it: sweeps' trials, pruning).

It draws nothing from the global random generators (the prediction loader has a generator of
its own), so a run validated every epoch computes the numbers of one that is not
(``tests/scac/engine/test_run_options.py``).
"""

from __future__ import annotations

from scac.config import RunConfig
from scac.engine.callbacks import Callbacks, ForwardingCallbacks
from scac.engine.predict import predict
from scac.engine.train import Runtime
from scac.metrics import summarize


class ValidateEachEpoch(ForwardingCallbacks):
    """Wraps a run's callbacks: after every epoch, score the evaluation split and report it."""

    def __init__(self, inner: Callbacks, model, dataset, cfg: RunConfig, runtime: Runtime) -> None:
        super().__init__(inner)
        self.model, self.dataset = model, dataset
        self.cfg, self.runtime = cfg, runtime
        self.step = 0

    def on_epoch_end(self, phase, epoch, mean_loss) -> None:
        self.inner.on_epoch_end(phase, epoch, mean_loss)
        self.step += 1
        batch = self.cfg.train.eval_batch_size
        preds = predict(self.model, self.dataset, batch_size=batch, runtime=self.runtime)
        self.model.train()
        self.inner.on_validation(self.step, summarize(preds, self.cfg.eval.threshold)[0])
