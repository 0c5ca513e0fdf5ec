"""Prediction over a split: the (N, C) scores and logits every metric protocol is computed from."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from scac.data.batch import collate
from scac.engine.distributed import gather_objects
from scac.engine.train import Runtime
from scac.predictions import Predictions


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset,
    *,
    batch_size: int,
    runtime: Runtime,
) -> Predictions:
    """Scores and logits of ``model`` on every readable image of ``dataset``, in dataset order.

    Under torchrun each process scores every ``world_size``-th image and the scores are gathered,
    so every rank returns the whole split.

    Args:
        model: the model (put in eval mode here; not wrapped in DDP).
        dataset: the split.
        batch_size: images per forward pass.
        runtime: device, workers, mixed precision, distribution.

    The model's output must have ``scores`` (B, C) probabilities and ``logits`` (B, C), their
    log-odds (every family's output does).
    """
    model.eval()
    dist = runtime.dist
    part = (
        dataset
        if dist is None
        else Subset(dataset, range(dist.rank, len(dataset), dist.world_size))
    )
    loader = DataLoader(
        part,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=runtime.num_workers,
        # its own generator: a loader draws its workers' base seed from the global one otherwise,
        # and the losses' samplers draw from that (validating every epoch changed the numbers)
        generator=torch.Generator(),
    )
    rows: list[tuple[np.ndarray, ...]] = []
    for batch in loader:
        if batch is None:
            continue
        indices = batch.indices.numpy()
        batch = batch.to(runtime.device)
        with runtime.autocast():
            out = model(batch.images)
        rows.append(
            (
                indices,
                out.scores.float().cpu().numpy(),
                out.logits.float().cpu().numpy(),
                batch.labels.cpu().numpy(),
                batch.label_mask.cpu().numpy(),
                batch.image_ids.numpy(),
            )
        )
    parts = [r for rank_rows in gather_objects(rows, dist) for r in rank_rows]
    if not parts:
        raise ValueError("no image of the evaluation split could be read")
    columns = (np.concatenate(col) for col in zip(*parts, strict=True))
    index, scores, logits, targets, mask, ids = columns
    order = np.argsort(index, kind="stable")
    return Predictions(
        scores=scores[order].astype(np.float32),
        logits=logits[order].astype(np.float32),
        targets=targets[order].astype(np.uint8),
        mask=mask[order].astype(bool),
        image_ids=ids[order],
        classes=list(dataset.classes),
        class_groups=list(dataset.class_groups),
    )
