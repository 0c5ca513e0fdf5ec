"""The partial-label protocol (latent-context paper §4.2, after Durand et al., CVPR 2019).

A proportion of the training label matrix is discarded at random: each (image, class) entry
becomes *unknown* with probability ``proportion``, drawn once from a fixed seed. Unknown entries
are neither positive nor negative: their ``label_mask`` is False, so the losses skip them.
Images left with no known label are ignored. Boxes stay: they are not image labels. Evaluation
uses the full labels of the validation split.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class PartialLabels(Dataset):
    """A view of a training dataset with a seeded share of its labels made unknown.

    Args:
        dataset: the fully labelled dataset (a ``CocoMultiLabel``).
        proportion: share of label entries discarded, in [0, 1).
        seed: seed of the draw (fixed per protocol, independent of the run's seed).
    """

    def __init__(self, dataset, proportion: float, seed: int = 0) -> None:
        if not 0.0 <= proportion < 1.0:
            raise ValueError(f"data.drop_labels must be in [0, 1), got {proportion}")
        self.dataset = dataset
        n, c = len(dataset), dataset.num_classes
        known = np.random.default_rng([seed, 104_729]).random((n, c)) >= proportion  # (N, C)
        self.indices = np.flatnonzero(known.any(1))  # images left with no label are ignored
        self.known = torch.from_numpy(known[self.indices])
        self.proportion = proportion

    def __getattr__(self, name: str):
        # classes, class_groups, num_classes... come from the wrapped dataset
        if name in ("dataset", "indices", "known", "proportion"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def serve_images(self, flag: bool) -> None:
        self.dataset.serve_images(flag)

    def __getitem__(self, index: int):
        sample = self.dataset[int(self.indices[index])]
        if sample is None:  # an unreadable image skipped by the wrapped dataset
            return None
        sample.label_mask = sample.label_mask & self.known[index]
        sample.index = index
        return sample
