"""Collation of samples into the batch every model and loss of the library consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from scac.data.images import Sample

# ImageNet statistics: torchvision's pretrained backbones expect them, and the synthetic
# pretraining uses the same normalisation so that weights stay interchangeable.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Batch:
    """A batch of images with their labels and boxes.

    Attributes:
        images: (B, 3, H, W) float images, normalised with ImageNet statistics.
        boxes: B tensors (N_i, 4), ground-truth boxes x1 y1 x2 y2 in input pixels.
        box_labels: B tensors (N_i,) class indices of the boxes.
        labels: (B, C) float multi-hot image labels.
        label_mask: (B, C) bool, True where a label is known (losses and metrics skip False).
        image_ids: (B,) int64 dataset image ids.
        flipped: (B,) bool, whether each image was flipped (feature caches key on it).
        indices: (B,) int64 dataset indices.
    """

    images: torch.Tensor
    boxes: list[torch.Tensor]
    box_labels: list[torch.Tensor]
    labels: torch.Tensor
    label_mask: torch.Tensor
    image_ids: torch.Tensor
    flipped: torch.Tensor
    indices: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        return replace(
            self,
            images=self.images.to(device, non_blocking=True),
            boxes=[b.to(device) for b in self.boxes],
            box_labels=[b.to(device) for b in self.box_labels],
            labels=self.labels.to(device),
            label_mask=self.label_mask.to(device),
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])


def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> float normalised with ImageNet mean and std.

    A (B, 0, H, W) placeholder (images not read: a feature cache stands in) stays empty.
    """
    if images_uint8.shape[1] == 0:
        return images_uint8.float()
    mean = torch.tensor(IMAGENET_MEAN, device=images_uint8.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images_uint8.device).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std


def collate(samples: list[Sample | None]) -> Batch | None:
    """Stack samples into a :class:`Batch` (module level, so loader workers can pickle it).

    Skipped images (None, see ``ImageDataset(skip_bad=True)``) are left out; a batch of nothing
    but skipped images is None.
    """
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    return Batch(
        images=normalize(torch.stack([s.image for s in kept])),
        boxes=[s.boxes for s in kept],
        box_labels=[s.box_labels for s in kept],
        labels=torch.stack([s.labels for s in kept]),
        label_mask=torch.stack([s.label_mask for s in kept]),
        image_ids=torch.tensor([s.image_id for s in kept], dtype=torch.int64),
        flipped=torch.tensor([s.flipped for s in kept], dtype=torch.bool),
        indices=torch.tensor([s.index for s in kept], dtype=torch.int64),
    )
