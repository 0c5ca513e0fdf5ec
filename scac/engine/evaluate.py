"""Prediction over a split: the (N, C) scores every metric protocol is computed from."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from scac.data.batch import Batch, collate
from scac.predictions import Predictions


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset,
    *,
    batch_size: int,
    device: torch.device,
    num_workers: int = 0,
    scores_of: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
) -> Predictions:
    """Scores of ``model`` on every image of ``dataset``, in dataset order.

    Args:
        model: the model (put in eval mode here).
        dataset: the split (a ``CocoMultiLabel``).
        batch_size: images per forward pass.
        device: where to compute.
        num_workers: DataLoader workers.
        scores_of: ``(model, batch) -> (B, C) probabilities``; default ``model(images).scores``.
    """
    scores_of = scores_of or (lambda m, b: m(b.images).scores)
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
    )
    scores, targets, masks, ids = [], [], [], []
    for batch in loader:
        batch = batch.to(device)
        scores.append(scores_of(model, batch).float().cpu())
        targets.append(batch.labels.cpu())
        masks.append(batch.label_mask.cpu())
        ids.append(batch.image_ids)
    return Predictions(
        scores=torch.cat(scores).numpy(),
        targets=torch.cat(targets).numpy().astype(np.uint8),
        mask=torch.cat(masks).numpy(),
        image_ids=torch.cat(ids).numpy(),
        classes=list(dataset.classes),
        class_groups=list(dataset.class_groups),
    )
