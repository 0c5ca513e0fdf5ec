"""Pretraining a detector (an FPN and a region proposal network) on synthetic shapes.

Stage 2 of the synthetic pretraining (see ``scac.engine.pretrain``): on the frozen
shape-pretrained backbone, the FPN and the RPN learn to propose every drawn object, whatever its
label, from the ``pretrain`` stream of scenes (class-agnostic boxes). SCAC then starts from these
weights, as a COCO user would start from a COCO-pretrained Faster R-CNN, and every arm of a study
starts from the same object patches. The model comes from its family
(:class:`scac.families.PretrainedPart`): any model whose ``backbone``, ``neck`` and
``object_patches`` parts are an FPN detector's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.ops import box_iou

from scac.announce import Announce, Progress, quiet
from scac.data.batch import normalize
from scac.data.scenes import SynthParams, render_scene, scene_rng
from scac.engine.numerics import cpu_threads
from scac.engine.pretrain import cached_weights, sgd_epochs
from scac.engine.pretrain_settings import DetectorPretrainSettings
from scac.engine.train import set_frozen
from scac.families.base import DETECTOR_PARTS
from scac.losses import rpn_loss


def _scenes(settings: DetectorPretrainSettings, start: int, count: int, size: int):
    params = SynthParams(canvas=settings.canvas)
    scale = size / settings.canvas
    images, boxes = [], []
    for i in range(start, start + count):
        img, objs = render_scene(scene_rng(settings.seed + 1, "pretrain", i), params)
        image = torch.from_numpy(img.copy()).permute(2, 0, 1)
        if size != settings.canvas:
            image = (
                torch.nn.functional.interpolate(
                    image[None].float(), size=(size, size), mode="bilinear", antialias=True
                )[0]
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        images.append(image)
        boxes.append(
            torch.tensor([o.box for o in objs], dtype=torch.float32).reshape(-1, 4) * scale
        )
    return torch.stack(images), boxes


def pretrain_detector(
    make_model: Callable[[Path | None], nn.Module],
    image_size: int,
    backbone_path: Path | None,
    settings: DetectorPretrainSettings,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Train the FPN and RPN of ``make_model(backbone_path)`` on class-agnostic synthetic boxes.

    Returns:
        (state dict of the ``neck`` and ``object_patches`` parts, report with proposal recall).
    """
    torch.manual_seed(settings.seed)
    model: Any = make_model(backbone_path)  # a SCAC: backbone, neck, object_patches
    set_frozen(model, ("backbone",))
    params = [p for n, p in model.named_parameters() if n.split(".")[0] in DETECTOR_PARTS]
    images, boxes = _scenes(settings, 0, settings.images, image_size)
    sizes = [(image_size, image_size)] * settings.batch_size
    model.train()

    def step(idx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        x = normalize(images[idx])
        gt = [boxes[i].clone() for i in idx.tolist()]
        for j, f in enumerate(flip.tolist()):
            if f:
                x[j] = x[j].flip(-1)
                gt[j][:, [0, 2]] = image_size - gt[j][:, [2, 0]]
        with torch.no_grad():
            c = model.backbone(x)
        props = model.object_patches(sizes, x, model.neck(c))
        obj, box = rpn_loss(
            props.objectness,
            props.deltas,
            props.anchors,
            gt,
            fg_iou=0.7,
            bg_iou=0.3,
            batch_size=256,
            positive_fraction=0.5,
        )
        return obj + box

    sgd_epochs(
        params,
        len(images),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        seed=settings.seed,
        step=step,
        drop_last=True,
        progress=progress,
    )
    recall = proposal_recall(
        model, *_scenes(settings, settings.images, settings.held_out, image_size)
    )
    state = {k: v for k, v in model.state_dict().items() if k.split(".")[0] in DETECTOR_PARTS}
    return state, {"proposal_recall@0.5": recall}


@torch.no_grad()
def proposal_recall(
    model, images: torch.Tensor, boxes: list[torch.Tensor], iou: float = 0.5
) -> float:
    """Share of ground-truth boxes that some object patch overlaps with IoU >= ``iou``."""
    model.eval()
    hit = total = 0
    for start in range(0, len(images), 50):
        x = normalize(images[start : start + 50])
        size = [(x.shape[-2], x.shape[-1])] * len(x)
        props = model.object_patches(size, x, model.neck(model.backbone(x)))
        for p, g in zip(props.boxes, boxes[start : start + 50], strict=True):
            if len(g):
                total += len(g)
                hit += int((box_iou(g, p).max(1).values >= iou).sum()) if len(p) else 0
    return hit / max(total, 1)


def synthetic_detector_weights(
    make_model: Callable[[Path | None], nn.Module],
    shape: dict,
    cache_dir: Path,
    backbone_path: Path | None,
    backbone_identity: str,
    settings: DetectorPretrainSettings | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    announce: Announce = quiet,
) -> Path:
    """Path of the cached synthetic-pretrained FPN + RPN, training them on first use.

    Args:
        make_model: ``(backbone file or None) -> model`` whose detector parts are trained.
        shape: what shapes the weights (backbone, channels, anchors, ``image_size``).
        cache_dir: where pretrained weights are kept.
        backbone_path: the backbone's pretrained file, or None.
        backbone_identity: what identifies that backbone file (part of the cache key).
        settings: how to pretrain.
        progress: ``(step, steps, loss)``.
        announce: ``announce(what)`` wraps the pretraining when there is one; the progress
            function it yields, if any, is told every step (when ``progress`` is None).
    """
    settings = settings or DetectorPretrainSettings()
    key = {"detector": shape, "backbone_weights": backbone_identity, **asdict(settings)}

    def train(shown: Progress | None) -> tuple[dict, dict]:
        with cpu_threads(settings.threads):
            return pretrain_detector(
                make_model, shape["image_size"], backbone_path, settings, progress or shown
            )

    return cached_weights(
        cache_dir, f"synthetic-detector-{shape['backbone']}", key, train, announce
    )
