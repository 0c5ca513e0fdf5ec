"""Images/s of the input pipeline for JPEG files: decode + resize + collate, PIL versus
``torchvision.io.decode_jpeg``, with 0, 1 and 2 DataLoader workers.

The images are written first: COCO-like JPEGs (640x480, quality 90, smooth shapes and noise so
they compress like photographs), resized to the paper's 416x416 and collated in batches as
:func:`scac.data.batch.collate` does (stack + ImageNet normalisation).

    python benchmarks/data_throughput.py                 # 256 images, batch 8
    python benchmarks/data_throughput.py --images 1024 --size 416 --batch 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_jpeg, read_file
from torchvision.transforms.v2 import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scac.data.batch import normalize  # noqa: E402
from scac.data.images import read_image  # noqa: E402


def write_jpegs(folder: Path, n: int, width: int = 640, height: int = 480) -> list[Path]:
    """``n`` photograph-like JPEGs: gradients, a few filled ellipses, mild noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(n):
        base = rng.uniform(0, 255, 3)
        img = base + 60 * np.stack(
            [np.sin(xx / 90 + i), np.cos(yy / 70 - i), np.sin((xx + yy) / 120)], -1
        )
        for _ in range(5):
            cx, cy, rx, ry = rng.uniform([0, 0, 20, 20], [width, height, 120, 90])
            mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
            img[mask] = rng.uniform(0, 255, 3)
        img += rng.normal(0, 6, img.shape)
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


class Jpegs(Dataset):
    """Decode one file (``pil`` or ``torchvision``) and resize it to a square."""

    def __init__(self, paths: list[Path], decoder: str, size: int) -> None:
        self.paths, self.decoder, self.size = paths, decoder, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.decoder == "pil":
            image = read_image(self.paths[i])  # the library's reader: (3, H, W) uint8
        else:
            image = decode_jpeg(read_file(str(self.paths[i])), mode=ImageReadMode.RGB)
        return TF.resize(image, [self.size, self.size], antialias=True)


def collate(images: list[torch.Tensor]) -> torch.Tensor:
    return normalize(torch.stack(images))


def throughput(paths, decoder: str, workers: int, size: int, batch: int) -> float:
    loader = DataLoader(
        Jpegs(paths, decoder, size),
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=False,
    )
    start = time.perf_counter()
    n = sum(len(b) for b in loader)  # includes starting the workers, as every epoch does
    return n / (time.perf_counter() - start)


def agreement(paths, size: int) -> tuple[float, float]:
    """(mean, max) absolute difference of the two decoders' resized images, in 8-bit levels:
    the speed comparison is only fair if they decode the same pixels."""
    pil, tv = Jpegs(paths, "pil", size), Jpegs(paths, "torchvision", size)
    diffs = [(pil[i].int() - tv[i].int()).abs() for i in range(len(paths))]
    return float(torch.cat([d.flatten() for d in diffs]).float().mean()), float(
        max(d.max() for d in diffs)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", default="0,1,2")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    print(
        f"{args.images} JPEGs 640x480 -> {args.size}x{args.size}, batch {args.batch}; "
        f"{os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d')}"
    )
    with tempfile.TemporaryDirectory(prefix="data-throughput-") as tmp:
        paths = write_jpegs(Path(tmp), args.images)
        for p in paths:  # warm the page cache: measure decoding, not the disk
            p.read_bytes()
        mean, worst = agreement(paths, args.size)
        print(f"decoders agree: mean |pil - torchvision| {mean:.3f}, max {worst:.0f} (of 255)")
        print(f"{'decoder':<14}" + "".join(f"{f'{w} workers':>12}" for w in workers))
        for decoder in ("pil", "torchvision"):
            rates = [throughput(paths, decoder, w, args.size, args.batch) for w in workers]
            print(f"{decoder:<14}" + "".join(f"{r:>9.1f} /s" for r in rates))


if __name__ == "__main__":
    main()
