"""Datasets: the synthetic context benchmark, COCO and VOC readers, images, batching.

The names below load with their module on first use (PEP 562), so that the data's light
modules (``scac.data.version``) load no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "Batch": "batch", "collate": "batch", "normalize": "batch",
    "CocoMultiLabel": "coco", "read_coco": "coco",
    "DatasetError": "images", "ImageDataset": "images", "Sample": "images",
    "DatasetIndex": "index", "ImageRecord": "index",
    "VOC_CLASSES": "voc", "read_voc": "voc",
}  # fmt: skip

__all__ = [
    "VOC_CLASSES", "Batch", "CocoMultiLabel", "DatasetError", "DatasetIndex", "ImageDataset",
    "ImageRecord", "Sample", "collate", "normalize", "read_coco", "read_voc",
]  # fmt: skip

if TYPE_CHECKING:
    from scac.data.batch import Batch, collate, normalize
    from scac.data.coco import CocoMultiLabel, read_coco
    from scac.data.images import DatasetError, ImageDataset, Sample
    from scac.data.index import DatasetIndex, ImageRecord
    from scac.data.voc import VOC_CLASSES, read_voc


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scac.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scac.data.{_HOMES[name]}"), name)
