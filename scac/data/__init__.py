"""Datasets: the synthetic context benchmark, COCO-format reading, batching."""

from scac.data.batch import Batch, collate, normalize
from scac.data.coco import CocoMultiLabel, DatasetError, Sample

__all__ = ["Batch", "CocoMultiLabel", "DatasetError", "Sample", "collate", "normalize"]
