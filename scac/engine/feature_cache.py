"""A disk cache of frozen features: what a frozen prefix of the model computes, once per image.

In a phase that freezes the model's first parts (SCAC §3.1: the pretrained backbone, here also
the pretrained FPN), those parts compute the same output for an image in every epoch, arm and
seed of a study. The cache computes it once per training image and flip (flips are decided per
image and epoch, :func:`scac.data.images.flip_decision`, so both copies are stored) and the
phase trains the rest of the model from it (``model.forward_from(stage, features, ...)``),
without reading or decoding the images.

Layout: ``ROOT/<stage>-<key>/`` holds ``meta.json`` (the key's parts, shapes, complete flag,
a CRC-32 of every file), ``missing.npy`` (images that could not be read, skipped) and one
memory-mapped ``<level>.npy`` per feature map, shape (N, F, C, H, W) float32, F = 2 with flips
(index 1 = flipped) else 1. The key hashes everything the features depend on: the frozen parts'
weights, the stage, the input size, the flip setting, the normalisation, the images (ids, files,
sizes), the CPU thread count and numerics path of the fill (they change the last bits) and
:data:`CACHE_VERSION`;
change any of them and another folder is used. A folder is written under a temporary name and
renamed when complete, so a killed fill never leaves a half cache.

Integrity: on open every file is checked against its CRC-32 (a file overwritten in place, even
with zeros of the same size, is caught; a check reads at about 1 GB/s and is done once per
process while the file is unchanged); a truncated, unreadable or mismatching file is named in a
:class:`scac.RunWarning` and the cache rebuilt. The CRC detects damage, not tampering: who can
write the cache can rewrite its index too (``docs/security.md``).

Exactness: torch picks a convolution's kernels by the batch's size as well as its shapes (on
the CPU a 1x1 convolution of fewer than 16 images on one thread runs torch's own im2col + GEMM,
of more on oneDNN; a 3x3 one of a single small image too), and the kernels differ in the last
bits. So the fill computes in batches of the training batch size (the last one padded with
repeats of its last image, whose copies are discarded), and the cached features equal what a
training batch computes bit for bit, whatever the thread count; a training split that does not
divide into full batches ends with a smaller batch, whose images may differ in the last bits.
Under mixed precision the fill runs under the same autocast as training.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scac import RunWarning
from scac import numerics as paths
from scac.data.batch import IMAGENET_MEAN, IMAGENET_STD, Batch, collate
from scac.engine.feature_files import (
    CacheKey,
    FeatureCache,
    FeatureCacheError,
    evict,
    file_crc,
    open_folder,
    size_text,
)
from scac.models.contract import MultiLabelModel
from scac.sections import PhaseConfig

DEFAULT_LIMIT_GB = float(os.environ.get("SCAC_FEATURE_CACHE_GB", "50"))


def image_dataset(dataset):
    """The image dataset under a view (``PartialLabels``), or ``dataset`` itself."""
    return getattr(dataset, "dataset", dataset) if hasattr(dataset, "indices") else dataset


def _base_indices(dataset, indices: torch.Tensor) -> np.ndarray:
    """Batch indices of ``dataset`` as indices of the image dataset beneath it."""
    idx = indices.cpu().numpy()
    return np.asarray(dataset.indices)[idx] if hasattr(dataset, "indices") else idx


def cacheable_stage(model: MultiLabelModel, frozen: tuple[str, ...]) -> str | None:
    """The last of ``model.cacheable_stages`` whose parts are all frozen, or None."""
    stage = None
    for name in model.cacheable_stages:
        if name not in frozen:
            break
        stage = name
    return stage


def weights_digest(model: MultiLabelModel, parts: tuple[str, ...]) -> str:
    """Hash of the named parts' parameters and buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for part in parts:
        for name, t in model.get_submodule(part).state_dict().items():
            h.update(f"{part}.{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def images_digest(dataset) -> str:
    """Hash of which images a dataset serves: ids, files and sizes, in order."""
    h = hashlib.sha256()
    for r in image_dataset(dataset).index.records:
        h.update(f"{r.image_id}|{r.file}|{r.width}x{r.height}\n".encode())
    return h.hexdigest()


def _fill(
    model: MultiLabelModel,
    dataset,
    stage: str,
    folder: Path,
    key: CacheKey,
    autocast: Callable[[], contextlib.AbstractContextManager],
    device: torch.device,
    limit_bytes: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Compute the features of every (image, flip) into ``folder`` (a temporary name), in
    batches of ``key.fill_batch`` (the last one padded with repeats of its last pair)."""
    ds = image_dataset(dataset)
    n, flips = len(ds), (2 if ds.hflip else 1)
    pairs = [(i, f) for i in range(n) for f in range(flips)]
    load_images = ds.load_images
    ds.serve_images(True)
    levels: dict[str, np.memmap] = {}
    missing = np.zeros(n, dtype=bool)
    model_was_training = model.training
    model.eval()  # frozen parts: FrozenBatchNorm, no dropout; eval only to be explicit
    try:
        size = key.fill_batch
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            samples = [ds.sample(i, bool(f)) for i, f in chunk]
            for (i, _), s in zip(chunk, samples, strict=True):
                missing[i] |= s is None
            readable = [s for s in samples if s is not None]
            if not readable:
                continue
            # (size, 3, H, W): the training batch's size, so torch picks the training's kernels
            batch = collate(readable + readable[-1:] * (size - len(readable)))
            assert batch is not None  # readable images only
            with torch.no_grad(), autocast():
                computed = model.features(stage, batch.images.to(device))
            feats = {name: t[: len(readable)] for name, t in computed.items()}
            if not levels:  # first batch: the shapes are known, check the size, allocate
                per_pair = sum(int(np.prod(t.shape[1:])) * 4 for t in feats.values())
                need = per_pair * n * flips
                free = shutil.disk_usage(folder.parent).free
                if need > limit_bytes or need > free - (1 << 30):
                    raise FeatureCacheError(
                        f"the {stage} feature cache for these {n} images would need "
                        f"{size_text(need)}; the limit is {size_text(limit_bytes)} "
                        f"(SCAC_FEATURE_CACHE_GB) and {size_text(free)} are free on {folder.parent}"
                    )
                evict(folder.parent, folder, need, limit_bytes)
                for name, t in feats.items():
                    levels[name] = np.lib.format.open_memmap(
                        folder / f"{name}.npy",
                        mode="w+",
                        dtype=np.float32,
                        shape=(n, flips, *t.shape[1:]),
                    )
            rows = [(i, f) for (i, f), s in zip(chunk, samples, strict=True) if s is not None]
            idx = np.array([i for i, _ in rows])
            fl = np.array([f for _, f in rows])
            for name, t in feats.items():
                levels[name][idx, fl] = t.float().cpu().numpy()
            if progress is not None:
                progress(min(start + size, len(pairs)), len(pairs))
        if not levels:
            raise FeatureCacheError("no training image could be read to fill the feature cache")
        for arr in levels.values():
            arr.flush()
        np.save(folder / "missing.npy", missing)
        files = [f"{name}.npy" for name in levels] + ["missing.npy"]
        meta = {
            "key": key.__dict__,
            "shapes": {k: list(a.shape) for k, a in levels.items()},
            "crc32": {f: file_crc(folder / f) for f in files},
            "complete": True,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    finally:
        ds.serve_images(load_images)
        model.train(model_was_training)


def open_or_build(
    model: MultiLabelModel,
    dataset,
    stage: str,
    root: Path,
    *,
    amp: str = "none",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    device: torch.device | None = None,
    limit_gb: float = DEFAULT_LIMIT_GB,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 8,
) -> FeatureCache:
    """The cache of ``stage``'s output for ``dataset``, computed now if absent or damaged, in
    batches of ``batch_size`` (the training's: see the module's note on exactness).

    Raises:
        FeatureCacheError: it would not fit its limit or the disk (the message says how much it
            needs), or no image could be read.
    """
    ds = image_dataset(dataset)
    device = device or next(model.parameters()).device
    parts = model.cacheable_stages[: model.cacheable_stages.index(stage) + 1]
    key = CacheKey(
        stage=stage,
        weights=weights_digest(model, parts),
        images=images_digest(ds),
        image_size=ds.image_size,
        hflip=bool(ds.hflip),
        normalisation=json.dumps([IMAGENET_MEAN, IMAGENET_STD]),
        amp=amp,
        threads=torch.get_num_threads() if device.type == "cpu" else 0,
        numerics=paths.identity(device.type),
        fill_batch=batch_size,
    )
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{stage}-{key.digest()}"
    if folder.exists():
        try:
            cache = open_folder(folder, key)
            os.utime(folder / "meta.json")  # recently used: evicted last
            return cache
        except FeatureCacheError as err:
            warnings.warn(f"{err}; rebuilding the cache", RunWarning, stacklevel=2)
            shutil.rmtree(folder, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
    try:
        _fill(
            model,
            dataset,
            stage,
            tmp,
            key,
            autocast,
            device,
            int(limit_gb * 1e9),
            progress,
        )
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same cache first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_folder(folder, key)


class FrozenFeatures:
    """Per training phase, a forward pass that starts from cached frozen features.

    Args:
        model: the model (with ``cacheable_stages``, ``features`` and ``forward_from``).
        dataset: the training dataset.
        root: the cache folder.
        amp, autocast, device: as the training runtime.
        limit_gb: the largest cache to write.
        progress: ``(done, total)`` while a cache fills.
        batch_size: the training batch size (the fill computes in batches of it).
    """

    def __init__(
        self,
        model: MultiLabelModel,
        dataset,
        root: Path,
        *,
        amp: str = "none",
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        device: torch.device | None = None,
        limit_gb: float = DEFAULT_LIMIT_GB,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int = 8,
    ) -> None:
        self.model, self.dataset, self.root = model, dataset, Path(root)
        # passed as they are to open_or_build for every phase
        self.options: dict[str, Any] = {
            "amp": amp,
            "autocast": autocast,
            "device": device,
            "limit_gb": limit_gb,
            "progress": progress,
            "batch_size": batch_size,
        }
        self.used: list[Path] = []

    def for_phase(self, phase: PhaseConfig) -> Callable[[MultiLabelModel, Batch], object] | None:
        """A ``(model, batch) -> output`` for ``phase``, or None when nothing it freezes caches.

        A cache too large for its limit or disk is reported as a warning and the phase runs
        without it.
        """
        stage = cacheable_stage(self.model, phase.freeze)
        if stage is None:
            return None
        try:
            cache = open_or_build(self.model, self.dataset, stage, self.root, **self.options)
        except FeatureCacheError as err:
            warnings.warn(
                f"{err}: phase {phase.name!r} runs without the cache", RunWarning, stacklevel=2
            )
            return None
        self.used.append(cache.folder)
        image_dataset(self.dataset).unreadable = set(np.flatnonzero(cache.missing).tolist())
        dataset = self.dataset

        def forward(model: MultiLabelModel, batch: Batch) -> object:
            feats = cache.features(
                _base_indices(dataset, batch.indices),
                batch.flipped.cpu().numpy(),
                batch.images.device,
            )
            return model.forward_from(stage, feats, batch.images, batch.boxes)

        return forward
