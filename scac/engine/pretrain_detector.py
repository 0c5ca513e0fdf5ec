"""Pretraining SCAC's FPN and region proposal network on synthetic shapes (class-agnostic boxes).

Stage 2 of the synthetic pretraining (see ``scac.engine.pretrain``): on the frozen
shape-pretrained backbone, the FPN and the RPN learn to propose every drawn object, whatever its
label, from the ``pretrain`` stream of scenes. SCAC then starts from these weights, as a COCO
user would start from a COCO-pretrained Faster R-CNN, and every arm of a study starts from the
same object patches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torchvision.ops import box_iou

from scac.config import SCACConfig
from scac.data.batch import normalize
from scac.data.synth import SynthParams, render_scene, scene_rng
from scac.engine.numerics import cpu_threads
from scac.engine.pretrain import _cached
from scac.engine.train import set_frozen
from scac.losses import rpn_loss
from scac.models import build_model

DETECTOR_PARTS = ("neck", "object_patches")


@dataclass(frozen=True)
class DetectorPretrainSettings:
    """How the synthetic detector is pretrained (part of the cache key)."""

    images: int = 3000
    epochs: int = 2
    batch_size: int = 16
    lr: float = 0.02
    seed: int = 0
    canvas: int = 128
    held_out: int = 200  # scenes after the training ones, to measure proposal recall
    threads: int = 2  # CPU threads: they change the weights' last bits (scac.engine.numerics)


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


def detector_key(cfg: SCACConfig, image_size: int) -> dict:
    """The settings that shape the FPN and RPN weights."""
    return {
        "backbone": cfg.backbone,
        "fpn_channels": cfg.fpn_channels,
        "anchor_sizes": list(cfg.anchor_sizes),
        "aspect_ratios": list(cfg.aspect_ratios),
        "image_size": image_size,
    }


def pretrain_detector(
    cfg: SCACConfig,
    image_size: int,
    backbone_path: Path | None,
    settings: DetectorPretrainSettings,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Train the FPN and RPN of ``cfg`` on class-agnostic synthetic boxes.

    Returns:
        (state dict of the ``neck`` and ``object_patches`` parts, report with proposal recall).
    """
    torch.manual_seed(settings.seed)
    model = build_model(
        replace(cfg, branches=("object",)), 1, {"backbone": backbone_path} if backbone_path else {}
    )
    set_frozen(model, ("backbone",))
    params = [p for n, p in model.named_parameters() if n.split(".")[0] in DETECTOR_PARTS]
    opt = torch.optim.SGD(params, lr=settings.lr, momentum=0.9, weight_decay=1e-4)
    images, boxes = _scenes(settings, 0, settings.images, image_size)
    steps = settings.epochs * (len(images) // settings.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(settings.seed)
    sizes = [(image_size, image_size)] * settings.batch_size
    model.train()
    step = 0
    for _epoch in range(settings.epochs):
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images) - settings.batch_size + 1, settings.batch_size):
            idx = order[start : start + settings.batch_size]
            x = normalize(images[idx])
            gt = [boxes[i].clone() for i in idx.tolist()]
            flip = (torch.rand(len(idx), generator=gen) < 0.5).tolist()
            for j, f in enumerate(flip):
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
            loss = obj + box
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if progress:
                progress(step, steps, float(loss))
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
    cfg: SCACConfig,
    image_size: int,
    cache_dir: Path,
    backbone_path: Path | None,
    backbone_identity: str,
    settings: DetectorPretrainSettings | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Path of the cached synthetic-pretrained FPN + RPN for ``cfg``, training them on first use."""
    settings = settings or DetectorPretrainSettings()
    key = {
        "detector": detector_key(cfg, image_size),
        "backbone_weights": backbone_identity,
        **asdict(settings),
    }

    def train() -> tuple[dict, dict]:
        with cpu_threads(settings.threads):
            return pretrain_detector(cfg, image_size, backbone_path, settings, progress)

    return _cached(cache_dir, f"synthetic-detector-{cfg.backbone}", key, train)
