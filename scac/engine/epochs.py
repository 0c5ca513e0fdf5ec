"""The batches of one epoch, in an order fixed by (seed, epoch): the data side of training.

The order comes from a generator of its own, never the global one (which the losses' samplers
draw from), so the order of one epoch never depends on what trained before it; under torchrun
each rank takes its share of the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from scac.data.batch import Batch, collate
from scac.engine.distributed import DistContext


def epoch_batches(
    dataset,
    batch_size: int,
    seed: int,
    epoch: int,
    num_workers: int = 0,
    dist: DistContext | None = None,
) -> Iterator[Batch]:
    """Shuffled batches of one epoch, in an order fixed by (seed, epoch); this rank's share."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler: RandomSampler | DistributedSampler[Any]
    if dist is None:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        sampler = RandomSampler(dataset, generator=gen)
    else:
        shard: DistributedSampler[Any] = DistributedSampler(
            dataset, dist.world_size, dist.rank, shuffle=True, seed=seed, drop_last=True
        )
        shard.set_epoch(epoch)
        sampler = shard
    drop_last = len(sampler) > batch_size
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        drop_last=drop_last,
    )
    for batch in loader:
        if batch is not None:  # None: every image of the batch was unreadable and skipped
            yield batch


def steps_per_epoch(dataset, batch_size: int, dist: DistContext | None = None) -> int:
    """Optimiser steps in one epoch (per process)."""
    n = len(dataset) // (dist.world_size if dist else 1)
    return max(1, n // batch_size) if n > batch_size else 1
