"""A run's training curve, written to the store as it trains (``bench.store.history``).

:class:`HistoryRecorder` wraps a run's callbacks: it keeps what the training loop logs (losses
per term, learning rate, gradient norm, images/s; ``Callbacks.on_log``), each epoch's mean loss
and, for runs that validate, the validation metrics, and writes them at the end of every epoch,
so an interrupted run keeps its curve. It is a :class:`LoggedValues`, as the TensorBoard writer
(``bench.telemetry.tensorboard``) is: both see the same values at the same steps. A store that
cannot be written costs the curve, never the run: the failure is told once as a warning and the run
goes on.
"""

from __future__ import annotations

import warnings
from typing import Any

from bench.store import Store, StoreError
from scac import RunWarning
from scac.engine.callbacks import Callbacks, ForwardingCallbacks


def recording(inner: Callbacks, store: Store | None, run_key: str, fresh: bool) -> Callbacks:
    """``inner``, with the run's curve recorded under its current attempt (no store: as is).

    Args:
        fresh: the run starts from its first epoch (no checkpoint to resume): earlier
            attempts' rows are dropped, so the curve is this attempt's alone.
    """
    if store is None:
        return inner
    try:
        attempt = store.get(run_key).attempts
        if fresh:
            store.drop_history(run_key, attempt)
    except StoreError as err:
        warnings.warn(f"run {run_key[:10]}: no training curve ({err})", RunWarning, stacklevel=2)
        return inner
    return HistoryRecorder(inner, store, run_key, attempt)


class LoggedValues(ForwardingCallbacks):
    """The training loop's hooks as named values at optimiser steps, for a sink of curves (the
    store's history, TensorBoard): what ``on_log`` logs at its step, each epoch's mean loss as
    ``epoch_loss`` and the validation metrics as ``val/NAME`` (NaN left out) at the last logged
    step, then :meth:`flush` at each epoch's end and each validation. One class, so every sink
    records the same values at the same steps.

    Subclasses implement :meth:`record` and :meth:`flush`.
    """

    def __init__(self, inner: Callbacks) -> None:
        super().__init__(inner)
        self.step, self.epoch, self.phase = 0, 0, ""

    def record(self, values: dict[str, float]) -> None:
        """Keep ``values`` as logged at ``self.step`` (of ``self.epoch``, ``self.phase``)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Write what was kept."""
        raise NotImplementedError

    def on_log(self, phase, epoch, step, values) -> None:
        self.inner.on_log(phase, epoch, step, values)
        self.step, self.epoch, self.phase = step, epoch, phase.name
        self.record(values)

    def on_epoch_end(self, phase, epoch, mean_loss) -> None:
        self.inner.on_epoch_end(phase, epoch, mean_loss)
        self.record({"epoch_loss": mean_loss})
        self.flush()

    def on_validation(self, step, metrics) -> None:
        self.record({f"val/{k}": v for k, v in metrics.items() if v == v})  # NaN: not logged
        self.flush()
        self.inner.on_validation(step, metrics)  # may raise (a pruner): the values are written


class HistoryRecorder(LoggedValues):
    """The run's ``inner`` callbacks, plus its curve written to ``store`` under its attempt."""

    def __init__(self, inner: Callbacks, store: Store, run_key: str, attempt: int) -> None:
        super().__init__(inner)
        self.store, self.run_key, self.attempt = store, run_key, attempt
        self.rows: list[dict[str, Any]] = []
        self.failed = False

    def record(self, values: dict[str, float]) -> None:
        self.rows += [
            {"step": self.step, "epoch": self.epoch, "phase": self.phase, "name": k, "value": v}
            for k, v in values.items()
        ]

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        if self.failed or not rows:
            return
        try:
            self.store.add_history(self.run_key, self.attempt, rows)
        except StoreError as err:
            self.failed = True
            warnings.warn(
                f"run {self.run_key[:10]}: its training curve is not recorded ({err})",
                RunWarning,
                stacklevel=2,
            )
