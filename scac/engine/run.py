"""One run, end to end: data -> model -> training phases -> predictions -> metrics -> artifacts.

:func:`run_experiment` is the library call behind every study arm, sweep trial and
``bench train``; :func:`assemble` is the part of it that benchmark scripts share (data read
once, the seeded model with its pretrained parts, its family's objective); :func:`run_identity`
is the run key the results store files a run under.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scac import numerics as paths
from scac.config import RunConfig, to_dict
from scac.data.batch import Batch
from scac.engine.assets import Assets, ensure_assets
from scac.engine.callbacks import Callbacks
from scac.engine.checkpoint import resume_state
from scac.engine.datasets import DataBundle, build_datasets, content_digest
from scac.engine.distributed import barrier, init_distributed, local_device
from scac.engine.feature_cache import FrozenFeatures
from scac.engine.identity import file_digest, run_identity  # noqa: F401 - run_identity: API
from scac.engine.numerics import cpu_threads, numerics
from scac.engine.predict import predict
from scac.engine.train import Runtime, TrainLog, train
from scac.engine.validation import ValidateEachEpoch
from scac.families import FAMILIES
from scac.metrics import summarize
from scac.models.contract import MultiLabelModel, check_model
from scac.models.dense import use_onednn


@dataclass
class RunOptions:
    """How a run is executed: nothing here changes its numbers.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        num_workers: DataLoader workers.
        callbacks: progress hooks.
        resume: continue from ``artifacts_dir/checkpoint.pt`` when it exists.
        validate_every_epoch: score the evaluation split after every epoch and hand the metrics
            to ``callbacks.on_validation`` (sweeps report them to their pruner).
        feature_cache: folder of the frozen-feature cache (phases that freeze the model's first
            parts train from features computed once, :mod:`scac.engine.feature_cache`), or None
            to compute them every step. Off under torchrun.
        feature_cache_progress: ``(done, total)`` while the cache fills.
        history_points: about how many times per run ``callbacks.on_log`` is called (the
            training curve's resolution; each epoch's end is always logged).
        numerics: the numerics path the run's key names (:func:`scac.numerics.identity`): the
            run refuses to start in a process that computes on another. None: not checked.
    """

    device: str = "auto"
    num_workers: int = 0
    callbacks: Callbacks | None = None
    resume: bool = False
    validate_every_epoch: bool = False
    feature_cache: Path | None = None
    feature_cache_progress: Callable[[int, int], None] | None = None
    history_points: int = 200
    numerics: str | None = None


@dataclass
class RunResult:
    """What a finished run produced.

    Attributes:
        metrics: metric name -> value in percent (mAP, CP, CR, CF1, OP, OR, OF1, mAP per group).
        per_class_ap: class name -> AP in percent.
        artifacts: folder holding ``predictions.npz``, ``model.pt``, ``train_log.json``.
        log: per-epoch losses and step counts.
        device: where it ran.
        train_seconds: wall time of the training phases.
        eval_seconds: wall time of prediction and scoring.
        skipped_images: unreadable images skipped (``data.skip_bad``), with the reason.
        world_size: processes that trained it (torchrun).
        provenance: what the numbers depend on beyond the config: the digests of the
            pretrained files loaded (by part) and of the data read, and the machine's numerics
            (:func:`scac.engine.numerics.numerics`: CPU, instruction set, threads, libraries).
    """

    metrics: dict[str, float]
    per_class_ap: dict[str, float]
    artifacts: Path
    log: TrainLog
    device: str
    train_seconds: float
    eval_seconds: float
    skipped_images: list[str]
    world_size: int = 1
    provenance: dict = field(default_factory=dict)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels: where it has none,
    a warning, or an error in the ``deterministic`` numerics mode (:mod:`scac.numerics`)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    strict = paths.mode() == "deterministic"
    torch.use_deterministic_algorithms(True, warn_only=not strict)
    if strict:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@contextlib.contextmanager
def own_random_state() -> Iterator[None]:
    """Give the block its own global random state: what it seeds and draws is undone after,
    so a run in a process leaves the process's generators (and determinism flag) as it found
    them."""
    python, numpy = random.getstate(), np.random.get_state()
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


@dataclass
class Assembly:
    """A run's parts, ready to train.

    Attributes:
        data: the train and evaluation splits, read once.
        model: the seeded model with its pretrained parts, on its device.
        objective: ``(output, batch) -> terms``: the family's loss with the run's ``loss``
            section.
        pretrained: the pretrained files it loaded, by part.
    """

    data: DataBundle
    model: MultiLabelModel
    objective: Callable[[Any, Batch], dict[str, torch.Tensor]]
    pretrained: dict[str, Path]


def model_and_objective(
    cfg: RunConfig, num_classes: int, pretrained: dict[str, Path], device: torch.device
) -> tuple[MultiLabelModel, Callable[[Any, Batch], dict[str, torch.Tensor]]]:
    """The model of ``cfg`` (random parts drawn after seeding with ``cfg.seed``, pretrained
    parts loaded from ``pretrained``) on ``device``, and its family's objective.

    Its linear layers compute through oneDNN on the CPU (:mod:`scac.models.dense`: MKL's
    vendor-neutral branch, which the pinned numerics path needs, is slow).
    """
    seed_everything(cfg.seed)
    family = FAMILIES.get(cfg.model.name)
    model = check_model(family.build(cfg.model, num_classes, pretrained), cfg.model.name)
    model = use_onednn(model).to(device)
    return model, partial(family.objective, settings=cfg.loss)


def assemble(
    cfg: RunConfig,
    cache_dir: Path,
    device: torch.device,
    *,
    bad_log: Path | None = None,
    assets: Assets | None = None,
) -> Assembly:
    """Everything a run trains, made in one order: assets (made on first use), datasets (read
    once), the global seed, the model (random parts drawn from it, pretrained ones loaded).

    Args:
        cfg: the resolved run configuration.
        cache_dir: where datasets and pretrained weights are generated once and reused.
        device: where the model goes.
        bad_log: where skipped unreadable images are listed (``data.skip_bad``).
        assets: the run's assets when the caller has them (else they are ensured here).
    """
    assets = assets or ensure_assets(cfg, cache_dir)
    data = build_datasets(cfg.data, cfg.seed, assets.data_root, bad_log=bad_log)
    model, objective = model_and_objective(cfg, len(data.classes), assets.pretrained, device)
    return Assembly(data, model, objective, assets.pretrained)


def run_experiment(
    cfg: RunConfig,
    *,
    artifacts_dir: Path,
    cache_dir: Path,
    options: RunOptions | None = None,
) -> RunResult:
    """Train and evaluate one configuration, writing its artifacts.

    Under ``torchrun`` every process calls this; they share the work (DDP) and only rank 0
    writes checkpoints and artifacts. On the CPU the run uses ``cfg.train.cpu_threads``
    intra-op threads throughout (training, the feature cache, evaluation), and it leaves the
    process's global random state as it found it.

    Args:
        cfg: the resolved run configuration.
        artifacts_dir: folder for predictions, checkpoint and logs (created).
        cache_dir: where datasets and pretrained weights are generated once and reused.
        options: how to execute it (device, workers, callbacks, resume, feature cache).
    """
    options = options or RunOptions()
    on_cpu = resolve_device(options.device).type == "cpu"
    threads = cpu_threads(cfg.train.cpu_threads) if on_cpu else contextlib.nullcontext()
    with threads, own_random_state():
        return _run(cfg, Path(artifacts_dir), Path(cache_dir), options)


def log_interval(cfg: RunConfig, images: int, points: int, dist=None) -> int:
    """Optimiser steps between two logged points, for about ``points`` over the whole run."""
    world = 1 if dist is None else dist.world_size
    per_epoch = math.ceil(images / (cfg.train.batch_size * world))
    steps = per_epoch * sum(p.epochs for p in cfg.train.phases)
    return max(1, math.ceil(steps / max(points, 1)))


def check_numerics(expected: str | None, device: torch.device) -> None:
    """Raise unless this process computes on the numerics path ``expected`` (None: any).

    Raises:
        scac.numerics.NumericsError: the process's kernels, or its path, are not the ones the
            run's key names (both are said).
    """
    paths.check()
    here = paths.identity(device.type)
    if expected is not None and here != expected:
        raise paths.NumericsError(
            f"the run's key names the numerics path {expected!r}, but this process computes "
            f"on {here!r}: run it with the mode (--numerics, ${paths.ENV}) and device it was "
            "planned for"
        )


@dataclass
class _Setup:
    """A run made ready to train: where it computes, what it trains, where it writes."""

    dist: Any  # this process's place in a torchrun job, or None
    runtime: Runtime
    parts: Assembly
    model: MultiLabelModel
    resume: dict | None  # the checkpoint to continue from
    checkpoint: Path
    skipped_file: Path

    @property
    def main(self) -> bool:
        return self.dist is None or self.dist.is_main


def _setup(cfg: RunConfig, artifacts_dir: Path, cache_dir: Path, options: RunOptions) -> _Setup:
    """Numerics checked, the process group joined, assets made (rank 0, once), the model and
    data assembled, the checkpoint to resume from read."""
    check_numerics(options.numerics, resolve_device(options.device))
    dist = init_distributed(resolve_device(options.device))
    runtime = Runtime(
        device=local_device(resolve_device(options.device), dist),
        num_workers=options.num_workers,
        amp=cfg.train.amp,
        channels_last=cfg.train.channels_last,
        dist=dist,
    )
    main = dist is None or dist.is_main
    checkpoint = artifacts_dir / "checkpoint.pt"
    skipped_file = artifacts_dir / "skipped_images.txt"
    assets = None
    if main:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        skipped_file.unlink(missing_ok=True)
        assets = ensure_assets(cfg, cache_dir)  # made once, on rank 0, before the others look
    barrier(dist)
    parts = assemble(cfg, cache_dir, runtime.device, bad_log=skipped_file, assets=assets)
    runtime.log_every = log_interval(cfg, len(parts.data.train), options.history_points, dist)
    model = parts.model
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    state = resume_state(checkpoint, options.resume)
    if main:
        (artifacts_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    return _Setup(dist, runtime, parts, model, state, checkpoint, skipped_file)


def _fit(cfg: RunConfig, s: _Setup, options: RunOptions) -> TrainLog:
    """Train with the run's hooks (validation each epoch if asked) and, when allowed, from
    the frozen-feature cache."""
    hooks = options.callbacks if s.main else None
    if options.validate_every_epoch:
        hooks = ValidateEachEpoch(hooks or Callbacks(), s.model, s.parts.data.val, cfg, s.runtime)
    frozen = None
    if options.feature_cache is not None and s.dist is None:
        frozen = FrozenFeatures(
            s.model,
            s.parts.data.train,
            options.feature_cache,
            amp=cfg.train.amp,
            autocast=s.runtime.autocast,
            device=s.runtime.device,
            progress=options.feature_cache_progress,
            batch_size=cfg.train.batch_size,
        )
    return train(
        s.model,
        s.parts.objective,
        s.parts.data.train,
        cfg.train,
        seed=cfg.seed,
        runtime=s.runtime,
        callbacks=hooks,
        checkpoint=s.checkpoint,
        resume=s.resume,
        phase_forward=frozen.for_phase if frozen is not None else None,
    )


def _run(cfg: RunConfig, artifacts_dir: Path, cache_dir: Path, options: RunOptions) -> RunResult:
    s = _setup(cfg, artifacts_dir, cache_dir, options)
    start = time.perf_counter()
    log = _fit(cfg, s, options)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    batch = cfg.train.eval_batch_size
    preds = predict(s.model, s.parts.data.val, batch_size=batch, runtime=s.runtime)
    metrics, per_class = summarize(preds, cfg.eval.threshold)
    eval_seconds = time.perf_counter() - start

    skipped_file = s.skipped_file
    skipped = sorted(set(skipped_file.read_text().splitlines())) if skipped_file.is_file() else []
    if s.main:
        preds.save(artifacts_dir / "predictions.npz")
        torch.save(s.model.state_dict(), artifacts_dir / "model.pt")
        (artifacts_dir / "train_log.json").write_text(json.dumps(asdict(log), indent=1))
        s.checkpoint.unlink(missing_ok=True)  # finished: model.pt holds the weights
    barrier(s.dist)
    provenance = {
        "weights": {part: file_digest(path) for part, path in s.parts.pretrained.items()},
        "data": content_digest(cfg.data, s.parts.data),
        "numerics": numerics(s.runtime.device),
    }
    return RunResult(
        metrics,
        per_class,
        artifacts_dir,
        log,
        str(s.runtime.device),
        train_seconds,
        eval_seconds,
        skipped,
        s.dist.world_size if s.dist else 1,
        provenance,
    )
