"""Prediction over a split: the (N, C) scores every metric protocol is computed from."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from scac.data.batch import Batch, collate
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
    scores_of: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
) -> Predictions:
    """Scores of ``model`` on every readable image of ``dataset``, in dataset order.

    Under torchrun each process scores every ``world_size``-th image and the scores are gathered,
    so every rank returns the whole split.

    Args:
        model: the model (put in eval mode here; not wrapped in DDP).
        dataset: the split.
        batch_size: images per forward pass.
        runtime: device, workers, mixed precision, distribution.
        scores_of: ``(model, batch) -> (B, C) probabilities``; default ``model(images).scores``.
    """
    scores_of = scores_of or (lambda m, b: m(b.images).scores)
    model.eval()
    ctx = runtime.dist
    part = (
        dataset if ctx is None else Subset(dataset, range(ctx.rank, len(dataset), ctx.world_size))
    )
    loader = DataLoader(
        part,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=runtime.num_workers,
    )
    rows: list[tuple[np.ndarray, ...]] = []
    for batch in loader:
        if batch is None:
            continue
        indices = batch.indices.numpy()
        batch = batch.to(runtime.device)
        with runtime.autocast():
            scores = scores_of(model, batch).float().cpu().numpy()
        rows.append(
            (
                indices,
                scores,
                batch.labels.cpu().numpy(),
                batch.label_mask.cpu().numpy(),
                batch.image_ids.numpy(),
            )
        )
    parts = [r for rank_rows in gather_objects(rows, ctx) for r in rank_rows]
    if not parts:
        raise ValueError("no image of the evaluation split could be read")
    index, scores, targets, mask, ids = (np.concatenate(col) for col in zip(*parts, strict=True))
    order = np.argsort(index, kind="stable")
    return Predictions(
        scores=scores[order].astype(np.float32),
        targets=targets[order].astype(np.uint8),
        mask=mask[order].astype(bool),
        image_ids=ids[order],
        classes=list(dataset.classes),
        class_groups=list(dataset.class_groups),
    )
