"""The built-in synthetic context benchmark: small objects whose label only their context decides.

The SCAC paper (§2.3) claims that expanding an object patch by a ratio to see its surroundings
helps to label objects that look alike. This generator makes that claim testable on a CPU. It
writes a dataset in COCO format (``annotations/instances_{split}.json`` + PNG images), so the
same pycocotools reader serves synthetic and real data.

Design (all sizes in pixels of a ``canvas`` x ``canvas`` image, 128 by default):

* **Context classes** (unambiguous, large): ``person`` (tall figure), ``table`` (top + legs),
  ``boat`` (hull + mast + sail). Each has a distinct shape.
* **Ambiguous classes** (small, *identical* in appearance): ``ball``, ``plate`` and ``buoy`` are
  all the same disk (8-11 px, same colour distribution). Its label is decided only by the
  context object placed beside it: a disk beside a person is a ball, beside a table a plate,
  beside a boat a buoy. The disk sits left or right of its context object, at any height along
  it, with a gap of ``gap`` = 16-24 pixels between the two boxes: the deciding cue lies at a
  measurable distance, outside the disk's tight box, so a patch must be expanded about 4-6x to
  take it in.
* **Distinct classes** (small, unambiguous): ``kite`` (magenta diamond), ``bottle`` (green bar
  with a neck), ``clock`` (blue ring), placed anywhere: shape and colour both tell them apart, so
  the object branch alone can learn them.
* **Distractor context**: most images also hold a context object of another type with no disk
  beside it, at least ``distractor_distance`` = 44 px from every disk centre (and every disk's
  own context is the only context object that near). A context patch expanded too far takes in
  this wrong cue; and since the image-level label set then holds two context classes, a model
  that sees the whole image cannot tell which one decides the disk.

Why a gap of 16-24 px: convolutional features see around an object through their receptive
field. With the first version of this benchmark (gap 8-14 px, a backbone whose deepest features
see the whole 128 px image), a linear probe on the frozen features of the disk's *tight* box
told ball, plate and buoy apart 93-96% of the time, and SCAC without context (ratio 1.0) reached
the same AP as with context: the cue was already inside the patch's features. The synthetic
default therefore uses the ``shallow`` backbone (receptive fields 7, 15, 31 and 63 px at C2..C5)
and puts the cue 16-24 px away; ``benchmarks/context_probe.py`` measures what the tight and the
expanded patches' features can tell.

Every object has a box; the labels of an image are the set of classes present. Annotations
carry two extra fields for tests and analysis: ``shape`` (what is drawn) and, for ambiguous
objects, ``context_id`` (the annotation id of the deciding context object). Categories carry
``group``: ``context``, ``ambiguous`` or ``distinct``.

Determinism: image ``i`` of split ``s`` is drawn from ``numpy.random.default_rng([seed, s, i])``
alone, so a dataset is the same on every machine and a larger dataset extends a smaller one.
:func:`ensure_synth` writes the default dataset once into a cache folder and regenerates it when
:data:`GENERATOR_VERSION` changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from scac.announce import Announce, quiet
from scac.data.scenes import (
    BY_NAME,
    CATEGORIES,
    GENERATOR_VERSION,
    SynthParams,
    render_scene,
    scene_rng,
)

# ---------------------------------------------------------------------------------------------
# Writing COCO


def _categories() -> list[dict]:
    return [
        {"id": cid, "name": name, "supercategory": group, "group": group, "shape": shape}
        for cid, name, group, shape in CATEGORIES
    ]


def write_split(out: Path, split: str, n: int, seed: int, params: SynthParams) -> Path:
    """Write ``n`` images of ``split`` and ``annotations/instances_{split}.json`` under ``out``."""
    (out / split).mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    ann_id = 1
    for i in range(n):
        img, objs = render_scene(scene_rng(seed, split, i), params)
        image_id = i + 1
        file_name = f"{image_id:012d}.png"
        Image.fromarray(img).save(out / split / file_name)
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": params.canvas,
                "height": params.canvas,
            }
        )
        first_id = ann_id
        for o in objs:
            x1, y1, x2, y2 = (float(v) for v in o.box)
            ann = {
                "id": ann_id,
                "image_id": image_id,
                "category_id": BY_NAME[o.name][0],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": 0,
                "shape": BY_NAME[o.name][2],
            }
            if o.context is not None:
                ann["context_id"] = first_id + o.context
            annotations.append(ann)
            ann_id += 1
    info = {
        "description": "scac-bench synthetic context benchmark",
        "generator": "scac.data.synth",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "split": split,
        "params": asdict(params),
    }
    doc = {"info": info, "images": images, "annotations": annotations, "categories": _categories()}
    path = out / "annotations" / f"instances_{split}.json"
    path.write_text(json.dumps(doc))
    return path


def generate(
    out: str | Path,
    *,
    seed: int = 0,
    train: int = 1000,
    val: int = 500,
    params: SynthParams | None = None,
) -> Path:
    """Write a synthetic dataset with ``train`` and ``val`` splits to ``out`` (COCO format).

    Args:
        out: destination folder (created).
        seed: dataset seed; the same seed gives byte-identical annotation files.
        train: number of training images.
        val: number of validation images.
        params: scene geometry; the defaults define the benchmark.

    Returns:
        The dataset folder.
    """
    if train < 0 or val < 0:
        raise ValueError(f"image counts must be >= 0, got train={train}, val={val}")
    params = params or SynthParams()
    out = Path(out)
    write_split(out, "train", train, seed, params)
    write_split(out, "val", val, seed, params)
    manifest = {
        "generator": "scac.data.synth",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "train": train,
        "val": val,
        "params": asdict(params),
    }
    (out / "synth.json").write_text(json.dumps(manifest, indent=1))
    return out


def ensure_synth(
    cache_dir: str | Path,
    *,
    seed: int,
    train: int,
    val: int,
    canvas: int = 128,
    announce: Announce = quiet,
) -> Path:
    """The synthetic dataset for these settings in ``cache_dir``, generated on first use.

    A dataset written by another generator version is regenerated. Generation goes to a
    temporary folder that is renamed when complete, so an interrupted generation never leaves
    a half-written dataset behind, and concurrent workers do not collide. ``announce(what)``
    wraps the generation when there is one (a progress display).
    """
    params = SynthParams(canvas=canvas)
    name = f"synth-v{GENERATOR_VERSION}-seed{seed}-train{train}-val{val}-c{canvas}"
    target = Path(cache_dir) / name
    manifest = target / "synth.json"
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("version") == GENERATOR_VERSION:
                return target
        except (OSError, json.JSONDecodeError):
            pass
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        with announce(f"generating the synthetic dataset ({train} + {val} images)"):
            generate(tmp, seed=seed, train=train, val=val, params=params)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "synth.json").exists():  # pragma: no cover - a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
