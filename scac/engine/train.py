"""The training loop: phases of SGD (paper §3.1: backbone frozen, then joint fine-tuning).

Determinism: the data order of each epoch comes from a generator seeded by (seed, epoch), the
flips from :func:`scac.data.images.flip_decision`, and every other random draw (samplers of the
losses) from torch's global generator seeded once per run, so the same config and seed give
the same numbers on the CPU, and a run resumed from an epoch checkpoint continues exactly.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from scac.data.batch import Batch
from scac.engine.callbacks import Callbacks, ForwardingCallbacks  # noqa: F401 - API too
from scac.engine.checkpoint import save_checkpoint, set_rng_state
from scac.engine.distributed import DistContext, all_finite
from scac.engine.epochs import epoch_batches, steps_per_epoch
from scac.models.contract import MultiLabelModel
from scac.sections import PhaseConfig, TrainConfig

AMP_MODES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the message names the phase, epoch, step and terms."""


@dataclass
class Runtime:
    """How to compute: none of it changes the numbers on one CPU except ``amp``.

    Attributes:
        device: where to compute.
        num_workers: DataLoader workers.
        amp: ``none``, ``bf16`` or ``fp16`` autocast (mixed precision, for GPUs).
        channels_last: NHWC memory format for convolutions (GPUs).
        dist: this process's place in a torchrun job, or None.
        log_every: optimiser steps between two ``Callbacks.on_log`` calls (each epoch's last
            step is always logged); 0 logs epoch ends only.
    """

    device: torch.device
    num_workers: int = 0
    amp: str = "none"
    channels_last: bool = False
    dist: DistContext | None = None
    log_every: int = 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp not in AMP_MODES:
            raise ValueError(f"train.amp must be one of {list(AMP_MODES)}, got {self.amp!r}")
        if AMP_MODES[self.amp] is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AMP_MODES[self.amp])


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


def _schedule(phase: PhaseConfig, total_steps: int) -> Callable[[int], float]:
    if phase.schedule not in ("constant", "cosine"):
        raise ValueError(
            f"unknown schedule {phase.schedule!r} in phase {phase.name!r}; known: constant, cosine"
        )

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / phase.warmup_steps) if phase.warmup_steps else 1.0
        if phase.lr_decay:  # Keras's SGD decay: lr / (1 + decay * step)
            warm = warm / (1.0 + phase.lr_decay * step)
        if phase.schedule == "cosine":
            return (
                warm * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
            )
        return warm

    return factor


def _phase_loss(terms: dict[str, torch.Tensor], phase: PhaseConfig) -> torch.Tensor:
    """The loss a phase optimises: the total, or the sum of the weighted terms it names."""
    if not phase.loss_terms:
        return terms["total"]
    unknown = [t for t in phase.loss_terms if t not in terms or t == "total"]
    if unknown:
        known = ", ".join(k for k in terms if k != "total")
        raise ValueError(
            f"phase {phase.name!r}: unknown loss terms {unknown}; this model's terms: {known}"
        )
    return cast(torch.Tensor, sum(terms[t] for t in phase.loss_terms))


def _param_groups(model: MultiLabelModel, weight_decay: float) -> list[dict[str, Any]]:
    """The trainable parameters, those the model exempts from weight decay (``no_weight_decay``,
    as timm's models name them: a learnable scale) in a group of their own."""
    exempt = model.no_weight_decay()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": [p for n, p in named if n not in exempt]}]
    if any(n in exempt for n, _ in named):
        groups.append({"params": [p for n, p in named if n in exempt], "weight_decay": 0.0})
    return groups


def _forward(model: nn.Module, batch: Batch) -> object:
    return model(batch.images, batch.boxes)


@dataclass
class _Phase:
    """What one phase trains with: its optimiser, schedule, network and forward pass."""

    config: PhaseConfig
    index: int
    params: list[nn.Parameter]
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    net: nn.Module  # the model, or its DDP wrapper under torchrun
    forward: Callable[[Any, Batch], object]  # from images, or from cached features
    steps_per_epoch: int
    first_epoch: int


def _setup_phase(
    model: MultiLabelModel,
    phase: PhaseConfig,
    index: int,
    first_epoch: int,
    spe: int,
    runtime: Runtime,
) -> _Phase:
    """Freeze the phase's parts and make its optimiser, schedule and (under torchrun) DDP
    wrapper; the forward pass from images (the caller swaps in a cached one)."""
    set_frozen(model, phase.freeze)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"phase {phase.name!r} freezes every parameter")
    opt = torch.optim.SGD(
        _param_groups(model, phase.weight_decay),
        lr=phase.lr,
        momentum=phase.momentum,
        weight_decay=phase.weight_decay,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(phase, spe * phase.epochs))
    net: nn.Module = model
    if runtime.dist is not None:  # re-wrapped per phase: DDP registers the parameters that train
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        net = DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=bool(phase.loss_terms)
        )
    return _Phase(phase, index, params, opt, sched, net, _forward, spe, first_epoch)


@dataclass
class _Step:
    """One optimisation step's outcome: the phase's loss, every term, the rate it used and the
    gradient norm before clipping (computed when clipping or logging)."""

    loss: float
    terms: dict[str, torch.Tensor]
    lr: float
    grad_norm: torch.Tensor | None


def _optimise(
    p: _Phase,
    batch: Batch,
    objective: Callable[[object, Batch], dict[str, torch.Tensor]],
    runtime: Runtime,
    scaler: torch.amp.GradScaler,
    grad_clip: float,
    need_norm: bool,
    where: str,
) -> _Step:
    """Forward, loss, backward, (unscale and) clip, step: one optimiser step on ``batch``."""
    batch = batch.to(runtime.device)
    if runtime.channels_last:
        batch.images = batch.images.contiguous(memory_format=torch.channels_last)
    with runtime.autocast():
        terms = objective(p.forward(p.net, batch), batch)
        loss = _phase_loss(terms, p.config)
    if not all_finite(loss.detach(), runtime.dist):
        detail = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        raise NonFiniteLossError(f"non-finite loss in {where}: {detail}")
    p.opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    grad_norm = None
    if grad_clip > 0 or need_norm:
        scaler.unscale_(p.opt)  # the norm of the true gradients, clipped or not
        grad_norm = torch.nn.utils.clip_grad_norm_(
            p.params, grad_clip if grad_clip > 0 else math.inf
        )
    lr = p.opt.param_groups[0]["lr"]  # the rate this step used
    scaler.step(p.opt)
    scaler.update()
    p.sched.step()
    return _Step(float(loss.detach()), terms, lr, grad_norm)


class _Telemetry:
    """When to call ``Callbacks.on_log`` and what with: every ``log_every`` steps and at each
    epoch's last step, the loss, its terms, the rate, the gradient norm and images/s since the
    last call."""

    def __init__(self, log: TrainLog, log_every: int) -> None:
        self.every = log_every
        self.last = (log.images, time.perf_counter())  # (images, clock) at the last on_log
        self.next = log.steps + log_every if log_every > 0 else 0

    def due(self, log: TrainLog, step: int, spe: int) -> bool:
        """Whether the step about to be taken (``step`` within its epoch) is logged."""
        return log.steps + 1 == self.next or step + 1 == spe

    def values(self, log: TrainLog, out: _Step) -> dict[str, float]:
        seen = time.perf_counter()
        assert out.grad_norm is not None, "a logged step computes its gradient norm"
        values = {"loss": out.loss, "lr": out.lr, "grad_norm": float(out.grad_norm)}
        values |= {f"loss/{k}": float(v.detach()) for k, v in out.terms.items() if k != "total"}
        values["images_per_s"] = (log.images - self.last[0]) / max(seen - self.last[1], 1e-9)
        self.last = (log.images, seen)
        self.next = log.steps + self.every if self.every > 0 else 0
        return values


def _resume(model: MultiLabelModel, resume: dict | None) -> tuple[TrainLog, int, int, int]:
    """``(log, phase, epoch, global epoch)`` to start from: a checkpoint's, or the start."""
    if resume is None:
        return TrainLog(), 0, 0, 0
    model.load_state_dict(resume["model"])
    set_rng_state(resume["rng"])
    return TrainLog(**resume["log"]), resume["phase"], resume["epoch"], resume["global_epoch"]


def train(
    model: MultiLabelModel,
    objective: Callable[[object, Batch], dict[str, torch.Tensor]],
    dataset,
    settings: TrainConfig,
    *,
    seed: int,
    runtime: Runtime,
    callbacks: Callbacks | None = None,
    checkpoint: Path | None = None,
    resume: dict | None = None,
    phase_forward: Callable[[PhaseConfig], Callable[[Any, Batch], object] | None] | None = None,
) -> TrainLog:
    """Run every phase of ``settings`` over ``dataset``.

    Args:
        model: the model, already on the runtime's device.
        objective: ``(output, batch) -> terms`` with the total under ``"total"``.
        dataset: training split (anything yielding ``Sample``).
        settings: the ``train`` section: phases, batch size (per process under torchrun),
            gradient clipping.
        seed: seed of the data order.
        runtime: device, workers, mixed precision, distribution.
        callbacks: progress hooks.
        checkpoint: file written at the end of every epoch (rank 0), or None.
        resume: a loaded checkpoint to continue from, or None.
        phase_forward: ``phase -> (model, batch) -> output`` for phases that start from cached
            features (:class:`scac.engine.feature_cache.FrozenFeatures`), or None; while one
            is in use the dataset serves no images. Not under torchrun.

    Raises:
        NonFiniteLossError: a loss became NaN or infinite.
    """
    callbacks = callbacks or Callbacks()
    dist = runtime.dist
    log, start_phase, start_epoch, global_epoch = _resume(model, resume)
    scaler = torch.amp.GradScaler(enabled=runtime.amp == "fp16")
    for index, phase in enumerate(settings.phases):
        if index < start_phase or (index == start_phase and start_epoch >= phase.epochs):
            continue
        spe = steps_per_epoch(dataset, settings.batch_size, dist)
        first = start_epoch if index == start_phase else 0
        p = _setup_phase(model, phase, index, first, spe, runtime)
        if resume is not None and index == start_phase and first > 0:
            p.opt.load_state_dict(resume["optimizer"])
            p.sched.load_state_dict(resume["scheduler"])
            scaler.load_state_dict(resume["scaler"])
        cached = phase_forward(phase) if phase_forward is not None and dist is None else None
        p.forward = cached or _forward
        dataset.serve_images(cached is None)
        callbacks.on_phase_start(phase, index, spe)
        telemetry = _Telemetry(log, runtime.log_every)
        model.train()
        for epoch in range(first, phase.epochs):
            batches = epoch_batches(
                dataset, settings.batch_size, seed, global_epoch, runtime.num_workers, dist
            )
            total, count = 0.0, 0
            for step, batch in enumerate(batches):
                logging = telemetry.due(log, step, spe)
                where = f"phase {phase.name!r}, epoch {epoch + 1}, step {step + 1}"
                out = _optimise(
                    p, batch, objective, runtime, scaler, settings.grad_clip, logging, where
                )
                total, count = total + out.loss, count + 1
                log.steps += 1
                log.images += len(batch)
                callbacks.on_step(phase, epoch, step, out.loss)
                if logging:
                    values = telemetry.values(log, out)
                    callbacks.on_log(phase, global_epoch + 1, log.steps, values)
            mean = total / max(count, 1)
            log.epoch_loss.append({"phase": phase.name, "epoch": epoch + 1, "loss": mean})
            global_epoch += 1
            if checkpoint is not None and (dist is None or dist.is_main):
                _save(checkpoint, model, p, scaler, epoch, global_epoch, log)
            callbacks.on_epoch_end(phase, epoch, mean)
    dataset.serve_images(True)
    return log


def _save(
    path: Path,
    model: MultiLabelModel,
    p: _Phase,
    scaler: torch.amp.GradScaler,
    epoch: int,
    global_epoch: int,
    log: TrainLog,
) -> None:
    """The epoch checkpoint: enough to continue exactly where this epoch ended."""
    save_checkpoint(
        path,
        model=model.state_dict(),
        optimizer=p.opt.state_dict(),
        scheduler=p.sched.state_dict(),
        scaler=scaler.state_dict(),
        phase=p.index,
        epoch=epoch + 1,
        global_epoch=global_epoch,
        log=asdict(log),
    )
