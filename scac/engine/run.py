"""One run, end to end: data -> model -> training phases -> predictions -> metrics -> artifacts.

:func:`run_experiment` is the library call behind every study arm, sweep trial and
``bench train``; :func:`run_identity` is the run key the results store files it under.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

import scac
from scac.config import RunConfig, config_hash, to_dict
from scac.data.synth import GENERATOR_VERSION
from scac.engine.datasets import build_datasets
from scac.engine.evaluate import predict
from scac.engine.pretrain import PretrainSettings, synthetic_backbone_weights
from scac.engine.pretrain_detector import (
    DetectorPretrainSettings,
    detector_key,
    synthetic_detector_weights,
)
from scac.engine.train import Callbacks, TrainLog, train
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
    """

    metrics: dict[str, float]
    per_class_ap: dict[str, float]
    artifacts: Path
    log: TrainLog
    device: str
    train_seconds: float
    eval_seconds: float


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
    """What identifies the data without reading it: the synthetic generator, or the folder."""
    if cfg.data.format == "synth" and not cfg.data.root:
        return f"synth-v{GENERATOR_VERSION}"
    return f"{cfg.data.format}:{Path(cfg.data.root).expanduser().resolve()}"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


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
) -> RunResult:
    """Train and evaluate one configuration, writing its artifacts.

    Args:
        cfg: the resolved run configuration.
        artifacts_dir: folder for predictions, checkpoint and logs (created).
        cache_dir: where datasets and pretrained weights are generated once and reused.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        num_workers: DataLoader workers.
        callbacks: progress hooks.
    """
    dev = resolve_device(device)
    artifacts_dir = Path(artifacts_dir)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    data = build_datasets(cfg.data, cfg.seed, cache_dir)
    pretrained = pretrained_paths(cfg, cache_dir)
    seed_everything(cfg.seed)
    model = build_model(cfg.model, len(data.classes), pretrained).to(dev)
    loss_fn = partial(LOSSES.get(cfg.model.name), settings=cfg.loss)
    (artifacts_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=1))

    start = time.perf_counter()
    log = train(
        model,
        loss_fn,
        data.train,
        cfg.train.phases,
        batch_size=cfg.train.batch_size,
        seed=cfg.seed,
        device=dev,
        grad_clip=cfg.train.grad_clip,
        num_workers=num_workers,
        callbacks=callbacks,
    )
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    preds = predict(
        model, data.val, batch_size=cfg.train.eval_batch_size, device=dev, num_workers=num_workers
    )
    metrics, per_class = summarize(preds, cfg.eval.threshold)
    eval_seconds = time.perf_counter() - start

    preds.save(artifacts_dir / "predictions.npz")
    torch.save(model.state_dict(), artifacts_dir / "model.pt")
    (artifacts_dir / "train_log.json").write_text(json.dumps(asdict(log), indent=1))
    return RunResult(metrics, per_class, artifacts_dir, log, str(dev), train_seconds, eval_seconds)
