"""The frozen-feature cache on disk: its folders, their key, and the checks made on opening one.

A cache folder ``ROOT/<stage>-<key digest>/`` holds ``meta.json`` (the :class:`CacheKey`, the
arrays' shapes, a CRC-32 per file, a complete flag), ``missing.npy`` and one ``<level>.npy`` per
feature map, (N, F, C, H, W) float32. :func:`open_folder` checks all of it and memory-maps the
arrays; :mod:`scac.engine.feature_cache` computes and uses them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CACHE_VERSION = 3  # 2: CRC-32 per file, thread count in the key; 3: numerics path in the key


class FeatureCacheError(RuntimeError):
    """A cache that cannot be used: too large for its limit or its disk, or unwritable."""


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
    numerics: str  # the numerics path of the fill (scac.numerics.identity)
    fill_batch: int  # images per batch of the fill: torch picks kernels by it
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


def check_crc(path: Path, expected: str | None) -> None:
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


def open_folder(folder: Path, key: CacheKey) -> FeatureCache:
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
        check_crc(path, crcs.get(path.name))
        levels[name] = arr
    path = folder / "missing.npy"
    try:
        missing = np.load(path)
        check_crc(path, crcs.get(path.name))
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"unreadable feature cache file {path}: {err}") from None
    return FeatureCache(folder, levels, missing)


def size_text(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def evict(root: Path, keep: Path, need: int, limit: int) -> None:
    """Delete the least recently used other caches in ``root`` until ``need`` bytes fit."""
    others = [d for d in root.iterdir() if d.is_dir() and d != keep and (d / "meta.json").exists()]
    others.sort(key=lambda d: (d / "meta.json").stat().st_mtime)
    used = sum(f.stat().st_size for d in others for f in d.iterdir())
    while others and used + need > limit:
        victim = others.pop(0)
        used -= sum(f.stat().st_size for f in victim.iterdir())
        shutil.rmtree(victim, ignore_errors=True)
