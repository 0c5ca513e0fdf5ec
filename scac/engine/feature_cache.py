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
sizes), the CPU thread count of the fill (it changes the last bits) and :data:`CACHE_VERSION`;
change any of them and another folder is used. A folder is written under a temporary name and
renamed when complete, so a killed fill never leaves a half cache.

Integrity: on open every file is checked against its CRC-32 (a file overwritten in place, even
with zeros of the same size, is caught; a check reads at about 1 GB/s and is done once per
process while the file is unchanged); a truncated, unreadable or mismatching file is named in a
:class:`scac.RunWarning` and the cache rebuilt. The CRC detects damage, not tampering: who can
write the cache can rewrite its index too (``docs/security.md``).

Exactness: on the CPU the cached features equal the uncached ones bit for bit when the fill and
the training batches hold at least 3 images (oneDNN picks another convolution algorithm for
batches of 1-2 images, which differs in the last bits, ~1e-7); the fill uses batches of
:data:`FILL_BATCH`. Under mixed precision the fill runs under the same autocast as training.
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
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scac import RunWarning
from scac.config import PhaseConfig
from scac.data.batch import IMAGENET_MEAN, IMAGENET_STD, Batch, collate

CACHE_VERSION = 2  # 2: CRC-32 per file, thread count in the key
FILL_BATCH = 16
DEFAULT_LIMIT_GB = float(os.environ.get("SCAC_FEATURE_CACHE_GB", "50"))


class FeatureCacheError(RuntimeError):
    """A cache that cannot be used: too large for its limit or its disk, or unwritable."""


def image_dataset(dataset):
    """The image dataset under a view (``PartialLabels``), or ``dataset`` itself."""
    return getattr(dataset, "dataset", dataset) if hasattr(dataset, "indices") else dataset


def _base_indices(dataset, indices: torch.Tensor) -> np.ndarray:
    """Batch indices of ``dataset`` as indices of the image dataset beneath it."""
    idx = indices.cpu().numpy()
    return np.asarray(dataset.indices)[idx] if hasattr(dataset, "indices") else idx


def cacheable_stage(model: nn.Module, frozen: tuple[str, ...]) -> str | None:
    """The last of ``model.cacheable_stages`` whose parts are all frozen, or None."""
    stage = None
    for name in getattr(model, "cacheable_stages", ()):
        if name not in frozen:
            break
        stage = name
    return stage


def weights_digest(model: nn.Module, parts: tuple[str, ...]) -> str:
    """Hash of the named parts' parameters and buffers (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for part in parts:
        for name, t in getattr(model, part).state_dict().items():
            h.update(f"{part}.{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def images_digest(dataset) -> str:
    """Hash of which images a dataset serves: ids, files and sizes, in order."""
    h = hashlib.sha256()
    for r in image_dataset(dataset).index.records:
        h.update(f"{r.image_id}|{r.file}|{r.width}x{r.height}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """Everything the cached features depend on."""

    stage: str
    weights: str
    images: str
    image_size: int
    hflip: bool
    normalisation: str
    amp: str
    threads: int  # CPU intra-op threads of the fill (0 on a GPU)
    version: int = CACHE_VERSION

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:20]


class FeatureCache:
    """An opened, complete cache folder: features of (image, flip) pairs, memory-mapped.

    Args:
        folder: the cache folder.
        levels: feature map name -> read-only memmap (N, F, C, H, W).
        missing: (N,) bool, images that could not be read.
    """

    def __init__(self, folder: Path, levels: dict[str, np.ndarray], missing: np.ndarray) -> None:
        self.folder = folder
        self.levels = levels
        self.missing = missing

    def features(
        self, indices: np.ndarray, flipped: np.ndarray, device: torch.device
    ) -> OrderedDict[str, torch.Tensor]:
        """Each level's (B, C, H, W) features of images ``indices`` (flipped where asked)."""
        f = flipped.astype(np.int64) if next(iter(self.levels.values())).shape[1] > 1 else 0
        return OrderedDict(
            (name, torch.from_numpy(np.ascontiguousarray(arr[indices, f])).to(device))
            for name, arr in self.levels.items()
        )

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.levels.values())


def file_crc(path: Path) -> str:
    """CRC-32 of a file's bytes, as 8 hex digits."""
    crc = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return f"{crc:08x}"


# (path, inode, size, mtime) -> CRC, for files already checked by this process
_CHECKED: dict[tuple, str] = {}


def _check_crc(path: Path, expected: str | None) -> None:
    """Raise when ``path``'s bytes do not have the CRC recorded at fill time."""
    st = path.stat()
    signature = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if signature not in _CHECKED:
        _CHECKED[signature] = file_crc(path)
    if _CHECKED[signature] != expected:
        raise FeatureCacheError(
            f"feature cache file {path} does not match its checksum (recorded {expected}, "
            f"found {_CHECKED[signature]}): the file was damaged or overwritten"
        )


def _open(folder: Path, key: CacheKey) -> FeatureCache:
    """Open a complete cache folder, checking its key, every array's shape and every file's CRC.

    Raises:
        FeatureCacheError: a file is missing, truncated, damaged or does not match the key
            (named).
    """
    meta_file = folder / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"unreadable feature cache index {meta_file}: {err}") from None
    if not isinstance(meta, dict) or meta.get("key") != key.__dict__ or not meta.get("complete"):
        raise FeatureCacheError(f"feature cache {folder} does not match its key or is incomplete")
    crcs = meta.get("crc32") or {}
    levels = {}
    for name, shape in meta["shapes"].items():
        path = folder / f"{name}.npy"
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:  # truncated: "mmap length is greater than file size"
            raise FeatureCacheError(
                f"truncated or unreadable feature cache file {path}: {err}"
            ) from None
        if list(arr.shape) != shape or arr.dtype != np.float32:
            raise FeatureCacheError(
                f"feature cache file {path} holds {arr.dtype}{list(arr.shape)}, "
                f"expected float32{shape}"
            )
        _check_crc(path, crcs.get(path.name))
        levels[name] = arr
    path = folder / "missing.npy"
    try:
        missing = np.load(path)
        _check_crc(path, crcs.get(path.name))
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"unreadable feature cache file {path}: {err}") from None
    return FeatureCache(folder, levels, missing)


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _evict(root: Path, keep: Path, need: int, limit: int) -> None:
    """Delete the least recently used other caches in ``root`` until ``need`` bytes fit."""
    others = [d for d in root.iterdir() if d.is_dir() and d != keep and (d / "meta.json").exists()]
    others.sort(key=lambda d: (d / "meta.json").stat().st_mtime)
    used = sum(f.stat().st_size for d in others for f in d.iterdir())
    while others and used + need > limit:
        victim = others.pop(0)
        used -= sum(f.stat().st_size for f in victim.iterdir())
        shutil.rmtree(victim, ignore_errors=True)


def _fill(
    model: nn.Module,
    dataset,
    stage: str,
    folder: Path,
    key: CacheKey,
    autocast: Callable[[], contextlib.AbstractContextManager],
    device: torch.device,
    limit_bytes: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Compute the features of every (image, flip) into ``folder`` (a temporary name)."""
    ds = image_dataset(dataset)
    n, flips = len(ds), (2 if ds.hflip else 1)
    pairs = [(i, f) for i in range(n) for f in range(flips)]
    load_images, ds.load_images = ds.load_images, True
    levels: dict[str, np.ndarray] = {}
    missing = np.zeros(n, dtype=bool)
    model_was_training = model.training
    model.eval()  # frozen parts: FrozenBatchNorm, no dropout; eval only to be explicit
    try:
        for start in range(0, len(pairs), FILL_BATCH):
            chunk = pairs[start : start + FILL_BATCH]
            samples = [ds.sample(i, bool(f)) for i, f in chunk]
            for (i, _), s in zip(chunk, samples, strict=True):
                missing[i] |= s is None
            batch: Batch | None = collate(samples)
            if batch is None:
                continue
            with torch.no_grad(), autocast():
                feats = model.features(stage, batch.images.to(device))
            if not levels:  # first batch: the shapes are known, check the size, allocate
                per_pair = sum(int(np.prod(t.shape[1:])) * 4 for t in feats.values())
                need = per_pair * n * flips
                free = shutil.disk_usage(folder.parent).free
                if need > limit_bytes or need > free - (1 << 30):
                    raise FeatureCacheError(
                        f"the {stage} feature cache for these {n} images would need "
                        f"{_size(need)}; the limit is {_size(limit_bytes)} "
                        f"(SCAC_FEATURE_CACHE_GB) and {_size(free)} are free on {folder.parent}"
                    )
                _evict(folder.parent, folder, need, limit_bytes)
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
                progress(min(start + FILL_BATCH, len(pairs)), len(pairs))
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
        ds.load_images = load_images
        model.train(model_was_training)


def open_or_build(
    model: nn.Module,
    dataset,
    stage: str,
    root: Path,
    *,
    amp: str = "none",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    device: torch.device | None = None,
    limit_gb: float = DEFAULT_LIMIT_GB,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureCache:
    """The cache of ``stage``'s output for ``dataset``, computed now if absent or damaged.

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
    )
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{stage}-{key.digest()}"
    if folder.exists():
        try:
            cache = _open(folder, key)
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
    return _open(folder, key)


class FrozenFeatures:
    """Per training phase, a forward pass that starts from cached frozen features.

    Args:
        model: the model (with ``cacheable_stages``, ``features`` and ``forward_from``).
        dataset: the training dataset.
        root: the cache folder.
        amp, autocast, device: as the training runtime.
        limit_gb: the largest cache to write.
        progress: ``(done, total)`` while a cache fills.
    """

    def __init__(
        self,
        model: nn.Module,
        dataset,
        root: Path,
        *,
        amp: str = "none",
        autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
        device: torch.device | None = None,
        limit_gb: float = DEFAULT_LIMIT_GB,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.model, self.dataset, self.root = model, dataset, Path(root)
        # passed as they are to open_or_build for every phase
        self.options = {
            "amp": amp,
            "autocast": autocast,
            "device": device,
            "limit_gb": limit_gb,
            "progress": progress,
        }
        self.used: list[Path] = []

    def for_phase(self, phase: PhaseConfig) -> Callable[[nn.Module, Batch], object] | None:
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

        def forward(model: nn.Module, batch: Batch):
            feats = cache.features(
                _base_indices(dataset, batch.indices),
                batch.flipped.cpu().numpy(),
                batch.images.device,
            )
            return model.forward_from(stage, feats, batch.images, batch.boxes)

        return forward
