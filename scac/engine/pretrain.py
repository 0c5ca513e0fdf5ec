"""Pretraining on synthetic shapes: the synthetic world's ImageNet and COCO-detector weights.

The paper's recipe loads pretrained weights and freezes them (§3.1). The synthetic benchmark has
no ImageNet, so its parts are pretrained once on a separate stream of synthetic scenes (split
``pretrain``, never the benchmark's images), with tasks blind to the benchmark's labels:

1. **Backbone** (``model.weights = "synthetic"``): multi-label recognition of *which shapes are
   drawn* (person, table, boat, disk, diamond, bottle, ring). A disk is a disk whether it is a
   ball, a plate or a buoy, so the features know shapes, not context-defined labels.
2. **Detector** (``model.detector_weights = "synthetic"``, SCAC only): the FPN and the region
   proposal network trained on the same stream's boxes with class-agnostic objectness, on the
   frozen pretrained backbone, as one would start from a COCO-pretrained Faster R-CNN.

Both are cached, keyed by the generator version, the architecture and the settings, and shared
by every run and study that asks for them. Files are written atomically, so concurrent workers
at worst train the same weights twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from scac import numerics as paths
from scac.announce import Announce, Progress, quiet
from scac.data.batch import normalize
from scac.data.scenes import (
    GENERATOR_VERSION,
    SHAPES,
    SynthParams,
    render_scene,
    scene_rng,
    shape_targets,
)
from scac.engine.numerics import cpu_threads
from scac.engine.pretrain_settings import PretrainSettings
from scac.models.backbones import BACKBONES
from scac.models.dense import use_onednn


def _render(settings: PretrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    params = SynthParams(canvas=settings.canvas)
    images, targets = [], []
    for i in range(settings.images):
        img, objs = render_scene(scene_rng(settings.seed, "pretrain", i), params)
        images.append(torch.from_numpy(img.copy()).permute(2, 0, 1))
        targets.append(torch.from_numpy(shape_targets(objs)))
    return torch.stack(images), torch.stack(targets)  # (N, 3, H, W) uint8, (N, S) float


def sgd_epochs(
    params: list[torch.nn.Parameter],
    n: int,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    drop_last: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> None:
    """The loop both synthetic pretrainings share: SGD (momentum 0.9, decay 1e-4) under a
    one-cycle schedule over ``epochs`` shuffles of ``n`` items, each item flipped or not.

    Args:
        params: what to train.
        n: items in the training stream.
        epochs, batch_size, lr, seed: the schedule; ``seed`` fixes the shuffles and flips.
        step: ``(item indices (B,), flip flags (B,) bool) -> loss`` for one batch.
        drop_last: leave out a last, smaller batch.
        progress: ``(step, steps, loss)`` after every step.
    """
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    per_epoch = n // batch_size if drop_last else (n + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed)
    done = 0
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, per_epoch * batch_size, batch_size):
            idx = order[start : start + batch_size]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            loss = step(idx, flip)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if progress:
                progress(done, epochs * per_epoch, loss.item())


def pretrain(
    backbone_name: str,
    settings: PretrainSettings,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[dict[str, torch.Tensor], float]:
    """Train ``backbone_name`` (with batch norm) + a linear shape classifier.

    Returns:
        (backbone state dict loadable into the frozen-batch-norm backbone, final-epoch accuracy
        of the shape decisions on the training stream).
    """
    torch.manual_seed(settings.seed)
    images, targets = _render(settings)
    backbone = BACKBONES.get(backbone_name)(norm_layer=nn.BatchNorm2d)
    head = use_onednn(nn.Linear(backbone.features[-1].channels, len(SHAPES)))
    per_epoch = (len(images) + settings.batch_size - 1) // settings.batch_size
    counts = {"correct": 0, "total": 0, "steps": 0}

    def step(idx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        if counts["steps"] % per_epoch == 0:  # an epoch starts: the accuracy is of the last one
            counts["correct"] = counts["total"] = 0
        counts["steps"] += 1
        x = normalize(images[idx])
        x[flip] = x[flip].flip(-1)
        feats = backbone(x)
        logits = head(feats[backbone.features[-1].name].amax(dim=(2, 3)))  # (B, S)
        counts["correct"] += int(((logits > 0).float() == targets[idx]).sum())
        counts["total"] += targets[idx].numel()
        return nn.functional.binary_cross_entropy_with_logits(logits, targets[idx])

    sgd_epochs(
        list(backbone.parameters()) + list(head.parameters()),
        len(images),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        step=step,
        progress=progress,
    )
    state = {
        k: v for k, v in backbone.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    return state, counts["correct"] / max(counts["total"], 1)


def cached_weights(
    cache_dir: Path,
    prefix: str,
    key: dict,
    train: Callable[[Progress | None], tuple[dict, dict]],
    announce: Announce = quiet,
) -> Path:
    """The cached state dict for ``key``; ``train(progress) -> (state, report)`` makes it on
    first use, inside ``announce(what is trained)``, with the progress function that context
    yields (None from :func:`scac.announce.quiet`).

    The key also holds the generator's version and the numerics path of this process (the
    pretrainings run on the CPU): weights trained on another path are other weights.
    """
    key = {"generator": GENERATOR_VERSION, "numerics": paths.identity("cpu"), **key}
    text = json.dumps(key, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(cache_dir) / "weights" / f"{prefix}-{digest}.pt"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with announce(f"pretraining {prefix} (first use only)") as shown:
        state, report = train(shown)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    torch.save(state, tmp)
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps({"key": json.loads(text), **report}, indent=1))
    return path


def synthetic_backbone_weights(
    backbone_name: str,
    cache_dir: Path,
    settings: PretrainSettings | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    announce: Announce = quiet,
) -> Path:
    """Path of the cached shape-pretrained backbone, training it on first use."""
    settings = settings or PretrainSettings()

    def train(shown: Progress | None) -> tuple[dict, dict]:
        with cpu_threads(settings.threads):
            state, accuracy = pretrain(backbone_name, settings, progress or shown)
        return state, {"shape_accuracy": accuracy}

    return cached_weights(
        cache_dir,
        f"synthetic-{backbone_name}",
        {"backbone": backbone_name, **asdict(settings)},
        train,
        announce,
    )
