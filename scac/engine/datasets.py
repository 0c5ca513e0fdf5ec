"""Datasets of a run from its ``data`` config section, with a fingerprint for the run key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from scac.announce import Announce, quiet
from scac.data.coco import read_coco
from scac.data.images import DatasetError, ImageDataset
from scac.data.index import DatasetIndex
from scac.data.partial import PartialLabels
from scac.data.synth import ensure_synth
from scac.data.voc import VOC_CLASSES, read_voc
from scac.engine.identity import annotations_fingerprint, configured_root
from scac.sections import DataConfig

FORMATS = ("synth", "coco", "voc")
_CACHE_BYTES = 2 * 1024**3  # keep decoded images in memory below this size


@dataclass
class DataBundle:
    """Train and validation splits of one dataset.

    Attributes:
        train: the training split (flips on when configured; partial labels when configured).
        val: the evaluation split (no augmentation).
        root: dataset folder.
        fingerprint: hash of the annotation files; part of the run key.
    """

    train: ImageDataset | PartialLabels
    val: ImageDataset
    root: Path
    fingerprint: str

    @property
    def classes(self) -> list[str]:
        return self.val.classes


_CONTENT: dict[tuple, str] = {}


def content_digest(cfg: DataConfig, bundle: DataBundle) -> str:
    """A digest of what a run reads, for its provenance.

    The annotation files' hash; for the synthetic benchmark, which every machine generates for
    itself, also every image's bytes (a few MB), so that two machines that drew different
    images are told apart. Memoised per process while the files are unchanged.
    """
    if cfg.format != "synth":
        return bundle.fingerprint
    files = sorted(p for split in ("train", "val") for p in (bundle.root / split).glob("*.png"))
    signature = (
        str(bundle.root),
        len(files),
        max((f.stat().st_mtime_ns for f in files), default=0),
    )
    if signature not in _CONTENT:
        h = hashlib.sha256(bundle.fingerprint.encode())
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _CONTENT[signature] = h.hexdigest()[:16]
    return _CONTENT[signature]


def dataset_root(
    cfg: DataConfig,
    cache_dir: Path,
    announce: Announce = quiet,
) -> Path:
    """The dataset folder: the configured root, or the synthetic default in the cache
    (generated on first use, inside ``announce(what)``)."""
    if cfg.format not in FORMATS:
        raise DatasetError(f"unknown data.format {cfg.format!r}; known: {', '.join(FORMATS)}")
    if cfg.format == "synth" and not cfg.root:
        s = cfg.synth
        return ensure_synth(
            cache_dir / "datasets",
            seed=s.seed,
            train=s.train,
            val=s.val,
            canvas=s.canvas,
            announce=announce,
        )
    return configured_root(cfg)


def read_split(cfg: DataConfig, root: Path, split: str, train: bool) -> DatasetIndex:
    """The index of one split of the configured dataset."""
    if cfg.format == "voc":
        return read_voc(root, split, difficult=cfg.difficult_train if train else cfg.difficult_eval)
    ann = root / "annotations" / f"instances_{split}.json"
    if not ann.is_file():
        raise DatasetError(
            f"annotation file not found: {ann} (expected annotations/instances_{split}.json "
            f"under {root})"
        )
    return read_coco(
        ann, root / split, keep_empty=cfg.keep_empty, class_order=cfg.class_order, crowd=cfg.crowd
    )


def holdout_split(cfg: DataConfig, root: Path) -> tuple[DatasetIndex, DatasetIndex]:
    """The training split cut in two by a seeded draw: (train part, held-out validation part).

    The held-out images follow the evaluation label policy (VOC ``difficult_eval``).
    """
    if not 0.0 < cfg.holdout < 1.0:
        raise ValueError(f"data.holdout must be in (0, 1), got {cfg.holdout}")
    train = read_split(cfg, root, cfg.train_split, True)
    same_policy = cfg.format != "voc" or cfg.difficult_train == cfg.difficult_eval
    evaluation = train if same_policy else read_split(cfg, root, cfg.train_split, False)
    n = len(train.records)
    held = set(
        np.random.default_rng([cfg.holdout_seed, 7_919])
        .permutation(n)[: round(n * cfg.holdout)]
        .tolist()
    )
    keep = [r for i, r in enumerate(train.records) if i not in held]
    out = [r for i, r in enumerate(evaluation.records) if i in held]
    if not keep or not out:
        raise ValueError(f"data.holdout={cfg.holdout} leaves an empty part of {n} training images")
    return replace(train, records=keep), replace(evaluation, records=out)


def num_classes_of(cfg: DataConfig) -> int | None:
    """The class count a format implies without reading it (for building models without data)."""
    return {"voc": len(VOC_CLASSES), "coco": 80, "synth": 9}.get(cfg.format)


def build_datasets(
    cfg: DataConfig, seed: int, root: Path, bad_log: Path | None = None
) -> DataBundle:
    """Read the train and val splits.

    Args:
        cfg: the ``data`` section.
        seed: the run's seed, which decides the flips.
        root: the dataset folder (:func:`dataset_root`).
        bad_log: where skipped unreadable images are listed (with ``data.skip_bad``).
    """
    if cfg.holdout > 0:
        train_index, val_index = holdout_split(cfg, root)
    else:
        train_index = read_split(cfg, root, cfg.train_split, True)
        val_index = read_split(cfg, root, cfg.val_split, False)
    if train_index.classes != val_index.classes:
        raise DatasetError(
            f"{cfg.train_split} and {cfg.val_split} have different classes in {root}"
        )

    def images(index: DatasetIndex, train: bool) -> ImageDataset:
        small = len(index.records) * 3 * cfg.image_size**2 < _CACHE_BYTES
        return ImageDataset(
            index,
            image_size=cfg.image_size,
            hflip=cfg.hflip and train,
            seed=seed,
            cache_images=small,
            skip_bad=cfg.skip_bad,
            bad_log=bad_log,
        )

    train: ImageDataset | PartialLabels = images(train_index, True)
    val = images(val_index, False)
    fp = annotations_fingerprint(train_index.source, val_index.source)
    if cfg.drop_labels > 0:
        train = PartialLabels(train, cfg.drop_labels, cfg.drop_labels_seed)
    return DataBundle(train=train, val=val, root=root, fingerprint=fp)
