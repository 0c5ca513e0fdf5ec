"""The hooks a training run calls: progress, history, validation, TensorBoard, holds.

Plain Python (no torch), so the toolkit's run layer and its writers can subclass them without
loading the engine. :class:`ForwardingCallbacks` is the base of every wrapper: it passes each
hook on, so a wrapper overrides only what it adds and no hook is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scac.sections import PhaseConfig


class Callbacks:
    """Hooks the training loop calls; the default does nothing (the CLI draws progress)."""

    def on_phase_start(self, phase: PhaseConfig, index: int, steps_per_epoch: int) -> None:
        """A phase starts: ``steps_per_epoch`` optimiser steps in each of its epochs."""

    def on_step(self, phase: PhaseConfig, epoch: int, step: int, loss: float) -> None:
        """One optimiser step finished with this total loss."""

    def on_epoch_end(self, phase: PhaseConfig, epoch: int, mean_loss: float) -> None:
        """An epoch of ``phase`` finished (``epoch`` counts from 0 within the phase)."""

    def on_log(self, phase: PhaseConfig, epoch: int, step: int, values: dict[str, float]) -> None:
        """Every ``Runtime.log_every`` optimiser steps and at each epoch's last step: the run's
        ``step``-th step overall (from 1) in ``epoch`` (overall, from 1), with the total loss
        (``loss``), each term (``loss/NAME``), the learning rate (``lr``), the gradient norm
        before clipping (``grad_norm``) and training images per second since the last call
        (``images_per_s``)."""

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        """Validation metrics after the ``step``-th epoch overall (runs asked to validate every
        epoch). Raising here (e.g. a pruner's exception) stops the run; the exception propagates.
        """


class ForwardingCallbacks(Callbacks):
    """Callbacks that pass every hook on to ``inner``: wrappers override only what they add."""

    def __init__(self, inner: Callbacks) -> None:
        self.inner = inner

    def on_phase_start(self, phase: PhaseConfig, index: int, steps_per_epoch: int) -> None:
        self.inner.on_phase_start(phase, index, steps_per_epoch)

    def on_step(self, phase: PhaseConfig, epoch: int, step: int, loss: float) -> None:
        self.inner.on_step(phase, epoch, step, loss)

    def on_epoch_end(self, phase: PhaseConfig, epoch: int, mean_loss: float) -> None:
        self.inner.on_epoch_end(phase, epoch, mean_loss)

    def on_log(self, phase: PhaseConfig, epoch: int, step: int, values: dict[str, float]) -> None:
        self.inner.on_log(phase, epoch, step, values)

    def on_validation(self, step: int, metrics: dict[str, float]) -> None:
        self.inner.on_validation(step, metrics)
