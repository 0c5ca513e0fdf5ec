"""Multi-label view of a COCO-format dataset, read through pycocotools.

Each image gives a multi-hot label vector over contiguous class indices (COCO category ids in
ascending order by default), plus its boxes and their class indices, resized to a square input
as in SCAC §3.1 (every image resized to ``image_size`` x ``image_size``). Horizontal flips are
decided per (seed, epoch, image) rather than by a global random stream, so they are the same
whatever the number of loader workers, and a cache of frozen features can hold both copies.

The synthetic benchmark (``scac.data.synth``) is written in this format, so one reader serves
both.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF


class DatasetError(ValueError):
    """A dataset that cannot be read: missing folder or file, bad annotation, corrupt image."""


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


class CocoMultiLabel(Dataset):
    """Images, boxes and multi-hot labels from a COCO ``instances_*.json``.

    Args:
        ann_file: path to the COCO instances JSON.
        image_dir: folder holding the image files named in the JSON.
        image_size: side of the square model input; images and boxes are resized to it.
        hflip: flip horizontally with probability 0.5 (decided by :func:`flip_decision`).
        seed: seed of the flip decisions.
        cache_images: keep decoded, resized images in memory after first use (small datasets).
    """

    def __init__(
        self,
        ann_file: str | Path,
        image_dir: str | Path,
        *,
        image_size: int,
        hflip: bool = False,
        seed: int = 0,
        cache_images: bool = False,
    ) -> None:
        self.ann_file = Path(ann_file)
        self.image_dir = Path(image_dir)
        if not self.ann_file.is_file():
            raise DatasetError(f"annotation file not found: {self.ann_file}")
        if not self.image_dir.is_dir():
            raise DatasetError(f"image folder not found: {self.image_dir}")
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            try:
                self.coco = COCO(str(self.ann_file))
            except Exception as err:  # noqa: BLE001 - json or format errors of any kind
                raise DatasetError(f"cannot read COCO annotations {self.ann_file}: {err}") from None
        cats = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c["id"])
        self.categories = cats
        self.classes = [c["name"] for c in cats]
        self.class_groups = [c.get("group", c.get("supercategory", "")) for c in cats]
        self._index_of = {c["id"]: i for i, c in enumerate(cats)}
        self.image_ids = sorted(self.coco.getImgIds())
        self.image_size = image_size
        self.hflip = hflip
        self.seed = seed
        self.epoch = 0
        self.cache_images = cache_images
        self._cache: dict[int, torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.image_ids)

    def set_epoch(self, epoch: int) -> None:
        """Select the flip decisions of ``epoch``."""
        self.epoch = epoch

    def _load(self, index: int) -> tuple[torch.Tensor, tuple[int, int]]:
        info = self.coco.imgs[self.image_ids[index]]
        if index in self._cache:
            return self._cache[index], (info["height"], info["width"])
        image = read_image(self.image_dir / info["file_name"])
        size = (int(image.shape[-2]), int(image.shape[-1]))
        if size != (info["height"], info["width"]):
            raise DatasetError(
                f"image {self.image_dir / info['file_name']} is {size[1]}x{size[0]}, "
                f"annotations say {info['width']}x{info['height']}"
            )
        image = TF.resize(image, [self.image_size, self.image_size], antialias=True)
        if self.cache_images:
            self._cache[index] = image
        return image, size

    def annotations(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 4) xyxy boxes in original pixels and (N,) class indices of image ``index``."""
        anns = self.coco.imgToAnns.get(self.image_ids[index], [])
        boxes = torch.tensor(
            [
                [
                    a["bbox"][0],
                    a["bbox"][1],
                    a["bbox"][0] + a["bbox"][2],
                    a["bbox"][1] + a["bbox"][3],
                ]
                for a in anns
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        labels = torch.tensor([self._index_of[a["category_id"]] for a in anns], dtype=torch.int64)
        return boxes, labels

    def label_matrix(self) -> torch.Tensor:
        """(N_images, C) multi-hot labels of the whole split, without decoding any image."""
        out = torch.zeros(len(self), self.num_classes)
        for i in range(len(self)):
            _, labels = self.annotations(i)
            out[i, labels] = 1.0
        return out

    def flipped(self, index: int) -> bool:
        """Whether image ``index`` is flipped in the current epoch."""
        return self.hflip and flip_decision(self.seed, self.epoch, index)

    def __getitem__(self, index: int) -> Sample:
        image, (h, w) = self._load(index)
        boxes, box_labels = self.annotations(index)
        bb = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(h, w))
        bb = TF.resize(bb, [self.image_size, self.image_size])
        flip = self.flipped(index)
        if flip:
            image = TF.horizontal_flip(image)
            bb = TF.horizontal_flip(bb)
        labels = torch.zeros(self.num_classes)
        labels[box_labels] = 1.0
        return Sample(
            image=image,
            boxes=bb.as_subclass(torch.Tensor),
            box_labels=box_labels,
            labels=labels,
            label_mask=torch.ones(self.num_classes, dtype=torch.bool),
            image_id=self.image_ids[index],
            index=index,
            flipped=flip,
        )
