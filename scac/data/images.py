"""Images of an indexed split as model inputs: decode, resize to a square, flip, keep boxes in step.

Every image is resized to ``image_size`` x ``image_size`` (SCAC §3.1: "All images are resized to
416x416"); boxes follow through torchvision's ``tv_tensors.BoundingBoxes``. Horizontal flips are
decided per (seed, epoch, image) rather than by a global random stream, so they are the same
whatever the number of loader workers, and a cache of frozen features can hold both copies.

A corrupt, truncated or missing image raises :class:`DatasetError` naming the file; with
``skip_bad`` it is skipped instead, and its path appended to ``bad_log`` (one line per skip; the
engine lists them in the run record).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from scac.data.errors import DatasetError
from scac.data.index import DatasetIndex


@dataclass
class Sample:
    """One image, ready for collation.

    Attributes:
        image: (3, S, S) uint8 image, resized (and possibly flipped).
        boxes: (N, 4) float boxes, x1 y1 x2 y2 in the resized image.
        box_labels: (N,) int64 class index of each box.
        labels: (C,) float multi-hot image labels.
        label_mask: (C,) bool, True where the label is known (False: ignored / unknown).
        image_id: the dataset's image id.
        index: position of the image in the dataset.
        flipped: whether the image (and its boxes) were flipped horizontally.
    """

    image: torch.Tensor
    boxes: torch.Tensor
    box_labels: torch.Tensor
    labels: torch.Tensor
    label_mask: torch.Tensor
    image_id: int
    index: int = 0
    flipped: bool = False


def read_image(path: Path) -> torch.Tensor:
    """Decode an image file to (3, H, W) uint8 with PIL; a missing or corrupt file names the file.

    PIL rather than ``torchvision.io``: torchvision deprecates its decoders from 0.29, and PIL
    raises on truncated files instead of returning a partly grey image.
    """
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {path}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DatasetError(f"cannot decode image {path}: {err}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def flip_decision(seed: int, epoch: int, index: int) -> bool:
    """Whether image ``index`` is flipped in ``epoch``: a fixed coin per (seed, epoch, index)."""
    return bool(np.random.default_rng([seed, epoch, index]).random() < 0.5)


class ImageDataset(Dataset):
    """Samples of an indexed split.

    Args:
        index: the split (``read_coco``, ``read_voc``).
        image_size: side of the square model input; images and boxes are resized to it.
        hflip: flip horizontally with probability 0.5 (decided by :func:`flip_decision`).
        seed: seed of the flip decisions.
        cache_images: keep decoded, resized images in memory after first use (small datasets).
        skip_bad: skip unreadable images (returning None) instead of raising.
        bad_log: file that skipped images are appended to.
    """

    def __init__(
        self,
        index: DatasetIndex,
        *,
        image_size: int,
        hflip: bool = False,
        seed: int = 0,
        cache_images: bool = False,
        skip_bad: bool = False,
        bad_log: Path | None = None,
    ) -> None:
        self.index = index
        self.classes = list(index.classes)
        self.class_groups = list(index.groups)
        self.image_size = image_size
        self.hflip = hflip
        self.seed = seed
        self.epoch = 0
        self.cache_images = cache_images
        self.skip_bad = skip_bad
        self.bad_log = bad_log
        # False while a feature cache stands in for the images (scac.engine.feature_cache): the
        # samples then carry a (0, S, S) placeholder, and no file is read or decoded
        self.load_images = True
        self.unreadable: set[int] = set()  # indices the feature cache could not read (skip_bad)
        self._cache: dict[int, torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_ids(self) -> list[int]:
        return [r.image_id for r in self.index.records]

    def __len__(self) -> int:
        return len(self.index.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the flip decisions of ``epoch``."""
        self.epoch = epoch

    def serve_images(self, flag: bool) -> None:
        """Read and decode images (True), or serve empty placeholders while a feature cache
        stands in for them (False, ``scac.engine.feature_cache``)."""
        self.load_images = flag

    def flipped(self, index: int) -> bool:
        """Whether image ``index`` is flipped in the current epoch."""
        return self.hflip and flip_decision(self.seed, self.epoch, index)

    def _load(self, index: int) -> torch.Tensor:
        if index in self._cache:
            return self._cache[index]
        rec = self.index.records[index]
        image = read_image(rec.file)
        if (image.shape[-2], image.shape[-1]) != (rec.height, rec.width):
            raise DatasetError(
                f"image {rec.file} is {image.shape[-1]}x{image.shape[-2]}, "
                f"annotations say {rec.width}x{rec.height}"
            )
        image = TF.resize(image, [self.image_size, self.image_size], antialias=True)
        if self.cache_images:
            self._cache[index] = image
        return image

    def _skip(self, err: DatasetError) -> None:
        if self.bad_log is not None:
            with open(self.bad_log, "a") as fh:  # one short line per skip: atomic across workers
                fh.write(f"{err}\n")
                fh.flush()
                os.fsync(fh.fileno())

    def __getitem__(self, index: int) -> Sample | None:
        return self.sample(index, self.flipped(index))

    def sample(self, index: int, flip: bool) -> Sample | None:
        """Image ``index``, flipped or not whatever the epoch (feature caches hold both)."""
        rec = self.index.records[index]
        if not self.load_images:
            if index in self.unreadable:
                return None
            image = torch.empty((0, self.image_size, self.image_size), dtype=torch.uint8)
        else:
            try:
                image = self._load(index)
            except DatasetError as err:
                if not self.skip_bad:
                    raise
                self._skip(err)
                return None
        bb = tv_tensors.BoundingBoxes(
            torch.from_numpy(rec.boxes).reshape(-1, 4),
            format="XYXY",
            canvas_size=(rec.height, rec.width),
        )
        bb = TF.resize(bb, [self.image_size, self.image_size])
        if flip:
            image = TF.horizontal_flip(image)
            bb = TF.horizontal_flip(bb)
        return Sample(
            image=image,
            boxes=bb.as_subclass(torch.Tensor).float(),
            box_labels=torch.from_numpy(rec.box_labels).long(),
            labels=torch.from_numpy(rec.labels).float(),
            label_mask=torch.from_numpy(rec.mask).bool(),
            image_id=rec.image_id,
            index=index,
            flipped=flip,
        )
