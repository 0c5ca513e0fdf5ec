"""One run, end to end: data -> model -> training phases -> predictions -> metrics -> artifacts.

:func:`run_experiment` is the library call behind every study arm, sweep trial and
``bench train``; :func:`run_identity` is the run key the results store files it under.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

import scac
from scac import RunWarning
from scac.config import RunConfig, config_hash, to_dict
from scac.data.synth import GENERATOR_VERSION
from scac.engine.checkpoint import load_checkpoint
from scac.engine.datasets import build_datasets, content_digest, data_fingerprint
from scac.engine.distributed import barrier, init_distributed, local_device
from scac.engine.evaluate import predict
from scac.engine.feature_cache import FrozenFeatures
from scac.engine.numerics import cpu_threads, numerics
from scac.engine.pretrain import PretrainSettings, synthetic_backbone_weights
from scac.engine.pretrain_detector import (
    DetectorPretrainSettings,
    detector_key,
    synthetic_detector_weights,
)
from scac.engine.train import Callbacks, Runtime, TrainLog, train
from scac.losses import LOSSES
from scac.metrics import summarize
from scac.models import build_model
from scac.models.weights import resolve_weights


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
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def data_identity(cfg: RunConfig) -> str:
    """What identifies the data: the synthetic generator's settings, or the annotations' hash."""
    return data_fingerprint(cfg.data, Path("."))


_DIGESTS: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    """The first 16 hex digits of a file's SHA-256, memoised while the file is unchanged."""
    st = path.stat()
    signature = (str(path), st.st_size, st.st_mtime_ns)
    if signature not in _DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[signature] = h.hexdigest()[:16]
    return _DIGESTS[signature]


def pretrained_paths(cfg: RunConfig, cache_dir: Path) -> dict[str, Path]:
    """The pretrained files of ``cfg`` by part, training synthetic ones on first use."""
    out: dict[str, Path] = {}
    m = cfg.model
    if m.weights == "synthetic":
        out["backbone"] = synthetic_backbone_weights(m.backbone, cache_dir, PretrainSettings())
    else:
        path = resolve_weights(m.weights, m.backbone)
        if path is not None:
            out["backbone"] = path
    detector = getattr(m, "detector_weights", "none")
    if detector == "synthetic":
        out["detector"] = synthetic_detector_weights(
            m, cfg.data.image_size, cache_dir, out.get("backbone"), _weights_identity(m.weights)
        )
    elif detector != "none":
        path = Path(detector).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"detector weights file not found: {path}")
        out["detector"] = path
    return out


def _weights_identity(weights: str) -> str:
    if weights in ("none", "imagenet", "imagenet-v2"):
        return weights
    if weights == "synthetic":
        return f"synthetic-g{GENERATOR_VERSION}-" + json.dumps(
            asdict(PretrainSettings()), sort_keys=True
        )
    path = Path(weights).expanduser()
    return f"file-{_file_digest(path)}" if path.is_file() else f"missing:{path}"


def weights_identity(cfg: RunConfig) -> str:
    """What identifies the pretrained weights without training them."""
    m = cfg.model
    text = _weights_identity(m.weights)
    detector = getattr(m, "detector_weights", "none")
    if detector == "synthetic":
        settings = json.dumps(asdict(DetectorPretrainSettings()), sort_keys=True)
        key = json.dumps(detector_key(m, cfg.data.image_size), sort_keys=True)
        text += f"|detector-synthetic-{key}-{settings}"
    elif detector != "none":
        text += "|detector-" + _weights_identity(detector)
    return text


def run_identity(cfg: RunConfig) -> str:
    """The run key: a hash of the resolved config, the data, the weights and the results version.

    ``scac.RESULTS_VERSION`` changes whenever a code change alters the numbers of a config, so
    runs of an older version are not mistaken for current ones.
    """
    return config_hash(
        cfg, data_identity(cfg), weights_identity(cfg), f"results-v{scac.RESULTS_VERSION}"
    )


class _Validating(Callbacks):
    """Wraps a run's callbacks: after every epoch, score the evaluation split and report it."""

    def __init__(self, inner: Callbacks, model, dataset, cfg: RunConfig, runtime: Runtime) -> None:
        self.inner, self.model, self.dataset, self.cfg, self.runtime = (
            inner,
            model,
            dataset,
            cfg,
            runtime,
        )
        self.step = 0

    def on_phase_start(self, phase, index, steps_per_epoch) -> None:
        self.inner.on_phase_start(phase, index, steps_per_epoch)

    def on_step(self, phase, epoch, step, loss) -> None:
        self.inner.on_step(phase, epoch, step, loss)

    def on_epoch_end(self, phase, epoch, mean_loss) -> None:
        self.inner.on_epoch_end(phase, epoch, mean_loss)
        self.step += 1
        preds = predict(
            self.model,
            self.dataset,
            batch_size=self.cfg.train.eval_batch_size,
            runtime=self.runtime,
        )
        self.model.train()
        self.inner.on_validation(self.step, summarize(preds, self.cfg.eval.threshold)[0])


def _resume_state(checkpoint: Path, resume: bool) -> dict | None:
    """The checkpoint to continue from; an unreadable one is set aside and the run restarts.

    A damaged (or unsafe, or old-format) checkpoint would otherwise fail every re-run until
    someone deleted it by hand: it is renamed beside itself, named in a :class:`RunWarning`,
    and the run starts from its first epoch.
    """
    if not (resume and checkpoint.is_file()):
        return None
    try:
        return load_checkpoint(checkpoint)
    except ValueError as err:
        aside = checkpoint.with_name(
            f"{checkpoint.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        checkpoint.replace(aside)
        warnings.warn(
            f"{err}; set aside as {aside.name}: the run restarts from its first epoch",
            RunWarning,
            stacklevel=2,
        )
        return None


def prepare(cfg: RunConfig, cache_dir: Path) -> None:
    """Generate what ``cfg`` needs once (synthetic dataset, pretrained weights) before any run."""
    build_datasets(cfg.data, cfg.seed, cache_dir)
    pretrained_paths(cfg, cache_dir)


def run_experiment(
    cfg: RunConfig,
    *,
    artifacts_dir: Path,
    cache_dir: Path,
    device: str = "auto",
    num_workers: int = 0,
    callbacks: Callbacks | None = None,
    resume: bool = False,
    validate_every_epoch: bool = False,
    feature_cache: Path | None = None,
    feature_cache_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Train and evaluate one configuration, writing its artifacts.

    Under ``torchrun`` every process calls this; they share the work (DDP) and only rank 0
    writes checkpoints and artifacts.

    Args:
        cfg: the resolved run configuration.
        artifacts_dir: folder for predictions, checkpoint and logs (created).
        cache_dir: where datasets and pretrained weights are generated once and reused.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        num_workers: DataLoader workers.
        callbacks: progress hooks.
        resume: continue from ``artifacts_dir/checkpoint.pt`` when it exists.
        validate_every_epoch: score the evaluation split after every epoch and hand the metrics
            to ``callbacks.on_validation`` (sweeps report them to their pruner).
        feature_cache: folder of the frozen-feature cache (phases that freeze the model's first
            parts train from features computed once, :mod:`scac.engine.feature_cache`), or
            None to compute them every step. It does not change the numbers, so it is not part
            of the run key. Off under torchrun.
        feature_cache_progress: ``(done, total)`` while the cache fills.

    On the CPU the run uses ``cfg.train.cpu_threads`` intra-op threads throughout (training,
    the feature cache, evaluation), whatever the process had before.
    """
    threads = (
        cpu_threads(cfg.train.cpu_threads)
        if resolve_device(device).type == "cpu"
        else contextlib.nullcontext()
    )
    with threads:
        return _run(
            cfg,
            artifacts_dir=artifacts_dir,
            cache_dir=cache_dir,
            device=device,
            num_workers=num_workers,
            callbacks=callbacks,
            resume=resume,
            validate_every_epoch=validate_every_epoch,
            feature_cache=feature_cache,
            feature_cache_progress=feature_cache_progress,
        )


def _run(
    cfg: RunConfig,
    *,
    artifacts_dir: Path,
    cache_dir: Path,
    device: str,
    num_workers: int,
    callbacks: Callbacks | None,
    resume: bool,
    validate_every_epoch: bool,
    feature_cache: Path | None,
    feature_cache_progress: Callable[[int, int], None] | None,
) -> RunResult:
    ctx = init_distributed(resolve_device(device))
    runtime = Runtime(
        device=local_device(resolve_device(device), ctx),
        num_workers=num_workers,
        amp=cfg.train.amp,
        channels_last=cfg.train.channels_last,
        dist=ctx,
    )
    main = ctx is None or ctx.is_main
    artifacts_dir = Path(artifacts_dir)
    checkpoint = artifacts_dir / "checkpoint.pt"
    if main:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        (artifacts_dir / "skipped_images.txt").unlink(missing_ok=True)
        prepare(cfg, cache_dir)  # dataset and pretrained weights, once, before the other ranks
    barrier(ctx)
    data = build_datasets(
        cfg.data, cfg.seed, cache_dir, bad_log=artifacts_dir / "skipped_images.txt"
    )
    pretrained = pretrained_paths(cfg, cache_dir)
    seed_everything(cfg.seed)
    model = build_model(cfg.model, len(data.classes), pretrained).to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = partial(LOSSES.get(cfg.model.name), settings=cfg.loss)
    state = _resume_state(checkpoint, resume)
    if main:
        (artifacts_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))

    start = time.perf_counter()
    hooks = callbacks if main else None
    if validate_every_epoch:
        hooks = _Validating(hooks or Callbacks(), model, data.val, cfg, runtime)
    frozen = None
    if feature_cache is not None and ctx is None:
        frozen = FrozenFeatures(
            model,
            data.train,
            feature_cache,
            amp=cfg.train.amp,
            autocast=runtime.autocast,
            device=runtime.device,
            progress=feature_cache_progress,
        )
    log = train(
        model,
        loss_fn,
        data.train,
        cfg.train.phases,
        batch_size=cfg.train.batch_size,
        seed=cfg.seed,
        runtime=runtime,
        grad_clip=cfg.train.grad_clip,
        callbacks=hooks,
        checkpoint=checkpoint,
        resume=state,
        phase_forward=frozen.for_phase if frozen is not None else None,
    )
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    preds = predict(model, data.val, batch_size=cfg.train.eval_batch_size, runtime=runtime)
    metrics, per_class = summarize(preds, cfg.eval.threshold)
    eval_seconds = time.perf_counter() - start

    skipped_file = artifacts_dir / "skipped_images.txt"
    skipped = sorted(set(skipped_file.read_text().splitlines())) if skipped_file.is_file() else []
    if main:
        preds.save(artifacts_dir / "predictions.npz")
        torch.save(model.state_dict(), artifacts_dir / "model.pt")
        (artifacts_dir / "train_log.json").write_text(json.dumps(asdict(log), indent=1))
        checkpoint.unlink(missing_ok=True)  # finished: model.pt holds the weights
    barrier(ctx)
    provenance = {
        "weights": {part: _file_digest(path) for part, path in pretrained.items()},
        "data": content_digest(cfg.data, data),
        "numerics": numerics(runtime.device),
    }
    return RunResult(
        metrics,
        per_class,
        artifacts_dir,
        log,
        str(runtime.device),
        train_seconds,
        eval_seconds,
        skipped,
        ctx.world_size if ctx else 1,
        provenance,
    )
