"""Datasets of a run from its ``data`` config section, with a fingerprint for the run key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from scac.config import DataConfig
from scac.data.coco import CocoMultiLabel, DatasetError
from scac.data.partial import PartialLabels
from scac.data.synth import ensure_synth

_CACHE_BYTES = 2 * 1024**3  # keep decoded images in memory below this size


@dataclass
class DataBundle:
    """Train and validation splits of one dataset.

    Attributes:
        train: the training split (flips on when configured).
        val: the evaluation split (no augmentation).
        root: dataset folder.
        fingerprint: hash of the annotation files; part of the run key.
    """

    train: CocoMultiLabel | PartialLabels
    val: CocoMultiLabel
    root: Path
    fingerprint: str

    @property
    def classes(self) -> list[str]:
        return self.train.classes


def _fingerprint(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def dataset_root(cfg: DataConfig, cache_dir: Path) -> Path:
    """The dataset folder: the configured root, or the synthetic default in the cache."""
    if cfg.format == "synth" and not cfg.root:
        s = cfg.synth
        return ensure_synth(
            cache_dir / "datasets", seed=s.seed, train=s.train, val=s.val, canvas=s.canvas
        )
    if not cfg.root:
        raise DatasetError(f"data.root must name the dataset folder for data.format={cfg.format!r}")
    return Path(cfg.root).expanduser()


def build_datasets(cfg: DataConfig, seed: int, cache_dir: Path) -> DataBundle:
    """Read the train and val splits (COCO layout: ``annotations/instances_{split}.json``).

    Args:
        cfg: the ``data`` section.
        seed: the run's seed, which decides the flips.
        cache_dir: where the synthetic default is generated.
    """
    if cfg.format not in ("synth", "coco"):
        raise DatasetError(f"unknown data.format {cfg.format!r}; known: coco, synth")
    root = dataset_root(cfg, cache_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")

    def split(name: str, train: bool) -> CocoMultiLabel:
        ds = CocoMultiLabel(
            root / "annotations" / f"instances_{name}.json",
            root / name,
            image_size=cfg.image_size,
            hflip=cfg.hflip and train,
            seed=seed,
        )
        ds.cache_images = len(ds) * 3 * cfg.image_size**2 < _CACHE_BYTES
        return ds

    train, val = split(cfg.train_split, True), split(cfg.val_split, False)
    if train.classes != val.classes:
        raise DatasetError(
            f"{cfg.train_split} and {cfg.val_split} have different categories in {root}"
        )
    fp = _fingerprint(train.ann_file, val.ann_file)
    if cfg.drop_labels > 0:
        train = PartialLabels(train, cfg.drop_labels, cfg.drop_labels_seed)
    return DataBundle(train=train, val=val, root=root, fingerprint=fp)
