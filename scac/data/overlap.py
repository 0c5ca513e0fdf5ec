"""Images two splits share: by image id, by file name, and by the number in the file name.

It matters when a backbone or detector was trained on one split and evaluated on the other:
COCO 2017 train holds most of 2014 val, under other file names (``000000000139.jpg`` versus
``COCO_val2014_000000000139.jpg``) but the same image ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from scac.data.images import DatasetError
from scac.data.voc import voc_image_id


@dataclass
class Overlap:
    """Shared images of splits ``a`` and ``b``."""

    a: Path
    b: Path
    a_images: int
    b_images: int
    same_id: list[int]
    same_name: list[str]
    same_number: list[int]


def split_images(path: str | Path) -> dict[int, str]:
    """``image id -> file name`` of a COCO instances JSON or a VOC ``ImageSets/Main/*.txt``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"split file not found: {path} (a COCO instances_*.json or a VOC ImageSets/Main/*.txt)"
        )
    if path.suffix == ".json":
        try:
            images = json.loads(path.read_text())["images"]
            return {int(im["id"]): str(im["file_name"]) for im in images}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"cannot read the images of {path}: {err}") from None
    names = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    return {voc_image_id(n): f"{n}.jpg" for n in names}


def _number(name: str) -> int | None:
    digits = re.findall(r"\d+", Path(name).stem)
    return int(digits[-1]) if digits else None


def overlap(a: str | Path, b: str | Path) -> Overlap:
    """Compare two splits (see :func:`split_images` for the accepted files)."""
    ia, ib = split_images(a), split_images(b)
    numbers_b = {_number(n) for n in ib.values()} - {None}
    return Overlap(
        a=Path(a),
        b=Path(b),
        a_images=len(ia),
        b_images=len(ib),
        same_id=sorted(set(ia) & set(ib)),
        same_name=sorted(set(ia.values()) & set(ib.values())),
        same_number=sorted({n for n in map(_number, ia.values()) if n is not None} & numbers_b),
    )
