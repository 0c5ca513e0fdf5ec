"""The training loop: phases of SGD (paper §3.1: backbone frozen, then joint fine-tuning).

Determinism: the data order of each epoch comes from a generator seeded by (seed, epoch), the
flips from :func:`scac.data.coco.flip_decision`, and every other random draw (samplers of the
losses) from torch's global generator seeded once per run, so the same config and seed give
the same numbers on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from scac.config import PhaseConfig
from scac.data.batch import Batch, collate


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the message names the phase, epoch, step and terms."""


class Callbacks:
    """Hooks the training loop calls; the default does nothing (the CLI draws progress)."""

    def on_phase_start(self, phase: PhaseConfig, index: int, steps_per_epoch: int) -> None:
        """A phase starts: ``steps_per_epoch`` optimiser steps in each of its epochs."""

    def on_step(self, phase: PhaseConfig, epoch: int, step: int, loss: float) -> None:
        """One optimiser step finished with this total loss."""

    def on_epoch_end(self, phase: PhaseConfig, epoch: int, mean_loss: float) -> None:
        """An epoch of ``phase`` finished (``epoch`` counts from 0 within the phase)."""


@dataclass
class TrainLog:
    """What happened in training: the mean loss of every epoch, per phase, and step counts."""

    epoch_loss: list[dict[str, float | int | str]] = field(default_factory=list)
    steps: int = 0
    images: int = 0


def set_frozen(model: nn.Module, frozen: tuple[str, ...]) -> None:
    """Freeze the named top-level parts of ``model`` and unfreeze the rest.

    Raises:
        ValueError: a name is not a part of the model (the known parts are listed).
    """
    parts = dict(model.named_children())
    unknown = [n for n in frozen if n not in parts]
    if unknown:
        raise ValueError(f"cannot freeze {unknown}: the model's parts are {sorted(parts)}")
    for name, module in parts.items():
        for p in module.parameters():
            p.requires_grad_(name not in frozen)
    # sigma and other direct parameters follow no part: they train unless a phase freezes all


def _schedule(phase: PhaseConfig, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / phase.warmup_steps) if phase.warmup_steps else 1.0
        if phase.schedule == "cosine":
            return (
                warm * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
            )
        return warm

    if phase.schedule not in ("constant", "cosine"):
        raise ValueError(
            f"unknown schedule {phase.schedule!r} in phase {phase.name!r}; known: constant, cosine"
        )
    return factor


def _objective(terms: dict[str, torch.Tensor], phase: PhaseConfig) -> torch.Tensor:
    """The phase's objective: the total, or the sum of the weighted terms it names."""
    if not phase.loss_terms:
        return terms["total"]
    unknown = [t for t in phase.loss_terms if t not in terms or t == "total"]
    if unknown:
        known = ", ".join(k for k in terms if k != "total")
        raise ValueError(
            f"phase {phase.name!r}: unknown loss terms {unknown}; this model's terms: {known}"
        )
    return sum(terms[t] for t in phase.loss_terms)


def epoch_batches(
    dataset, batch_size: int, seed: int, epoch: int, num_workers: int = 0
) -> Iterator[Batch]:
    """Shuffled batches of one epoch, in an order fixed by (seed, epoch)."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=RandomSampler(dataset, generator=gen),
        collate_fn=collate,
        num_workers=num_workers,
        drop_last=len(dataset) > batch_size,
    )
    yield from loader


def train(
    model: nn.Module,
    loss_fn: Callable[[object, Batch], dict[str, torch.Tensor]],
    dataset,
    phases: tuple[PhaseConfig, ...],
    *,
    batch_size: int,
    seed: int,
    device: torch.device,
    grad_clip: float = 0.0,
    num_workers: int = 0,
    callbacks: Callbacks | None = None,
    forward: Callable[[nn.Module, Batch], object] | None = None,
) -> TrainLog:
    """Run every phase over ``dataset``.

    Args:
        model: the model, already on ``device``.
        loss_fn: ``(output, batch) -> terms`` with the total under ``"total"``.
        dataset: training split (a ``CocoMultiLabel`` or anything yielding ``Sample``).
        phases: the phases, in order.
        batch_size: images per optimiser step.
        seed: seed of the data order.
        device: where to compute.
        grad_clip: maximum gradient norm (0 = off).
        num_workers: DataLoader workers.
        callbacks: progress hooks.
        forward: ``(model, batch) -> output``; default ``model(batch.images, batch.boxes)``.

    Raises:
        NonFiniteLossError: a loss became NaN or infinite.
    """
    callbacks = callbacks or Callbacks()
    forward = forward or (lambda m, b: m(b.images, b.boxes))
    log = TrainLog()
    global_epoch = 0
    for index, phase in enumerate(phases):
        set_frozen(model, phase.freeze)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"phase {phase.name!r} freezes every parameter")
        opt = torch.optim.SGD(
            params, lr=phase.lr, momentum=phase.momentum, weight_decay=phase.weight_decay
        )
        steps_per_epoch = max(1, len(dataset) // batch_size)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, _schedule(phase, steps_per_epoch * phase.epochs)
        )
        callbacks.on_phase_start(phase, index, steps_per_epoch)
        model.train()
        for epoch in range(phase.epochs):
            total, count = 0.0, 0
            for step, batch in enumerate(
                epoch_batches(dataset, batch_size, seed, global_epoch, num_workers)
            ):
                batch = batch.to(device)
                terms = loss_fn(forward(model, batch), batch)
                loss = _objective(terms, phase)
                if not torch.isfinite(loss):
                    detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
                    raise NonFiniteLossError(
                        f"non-finite loss in phase {phase.name!r}, epoch {epoch + 1}, "
                        f"step {step + 1}: {detail}"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                opt.step()
                sched.step()
                value = float(loss.detach())
                total += value
                count += 1
                log.steps += 1
                log.images += len(batch)
                callbacks.on_step(phase, epoch, step, value)
            mean = total / max(count, 1)
            log.epoch_loss.append({"phase": phase.name, "epoch": epoch + 1, "loss": mean})
            callbacks.on_epoch_end(phase, epoch, mean)
            global_epoch += 1
    return log
