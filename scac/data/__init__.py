"""Datasets: the synthetic context benchmark, COCO and VOC readers, images, batching."""

from scac.data.batch import Batch, collate, normalize
from scac.data.coco import CocoMultiLabel, read_coco
from scac.data.images import DatasetError, ImageDataset, Sample
from scac.data.index import DatasetIndex, ImageRecord
from scac.data.voc import VOC_CLASSES, read_voc

__all__ = [
    "VOC_CLASSES", "Batch", "CocoMultiLabel", "DatasetError", "DatasetIndex", "ImageDataset",
    "ImageRecord", "Sample", "collate", "normalize", "read_coco", "read_voc",
]  # fmt: skip
