"""Scenes of the synthetic context benchmark: its classes, their layout and their drawing.

``render_scene(scene_rng(seed, split, i), params)`` draws image ``i`` of a split from its own
generator alone, so a scene is the same on every machine that has the same NumPy and Pillow.
The benchmark's design (why the cue sits 16-24 px away, why distractors) is in
:mod:`scac.data.synth`, which writes scenes as a COCO dataset; ``scac.engine.pretrain`` draws
its own stream from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from scac.data.version import GENERATOR_VERSION

__all__ = ["GENERATOR_VERSION"]  # re-exported: its home is scac.data.version

# (id, name, group, shape). Category ids start at 1, as in COCO.
CATEGORIES: tuple[tuple[int, str, str, str], ...] = (
    (1, "person", "context", "person"),
    (2, "table", "context", "table"),
    (3, "boat", "context", "boat"),
    (4, "ball", "ambiguous", "disk"),
    (5, "plate", "ambiguous", "disk"),
    (6, "buoy", "ambiguous", "disk"),
    (7, "kite", "distinct", "diamond"),
    (8, "bottle", "distinct", "bottle"),
    (9, "clock", "distinct", "ring"),
)
CONTEXT_OF = {"ball": "person", "plate": "table", "buoy": "boat"}
SHAPES = ("person", "table", "boat", "disk", "diamond", "bottle", "ring")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "pretrain": 3}

BY_NAME = {name: (cid, group, shape) for cid, name, group, shape in CATEGORIES}
_AMBIGUOUS_BY_CONTEXT = {ctx: amb for amb, ctx in CONTEXT_OF.items()}


@dataclass(frozen=True)
class SynthParams:
    """Geometry of a scene. Changing a default changes the benchmark: bump the version."""

    canvas: int = 128
    gap: tuple[int, int] = (16, 24)  # pixels between a disk's box and its context object's box
    # distance from a disk centre to the nearest box of another context object: at least the
    # first value (its own context is the only one within reach), at most the second for one disk
    distractor_distance: tuple[int, int] = (44, 128)
    disk_size: tuple[int, int] = (8, 11)
    small_size: tuple[int, int] = (10, 14)
    groups_p: tuple[float, float, float] = (0.1, 0.6, 0.3)  # P(0, 1, 2 disk+context groups)
    distractors_p: tuple[float, ...] = (0.1, 0.9)  # P(0, 1, ... distractors), of unused types
    distinct_p: tuple[float, float, float] = (0.3, 0.4, 0.3)  # P(0, 1, 2 distinct objects)


@dataclass
class _Obj:
    name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    color: tuple[int, int, int]
    context: int | None = None  # index of the deciding context object (ambiguous only)


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def _context_box(rng: np.random.Generator, name: str) -> tuple[int, int]:
    """(width, height) of a context object."""
    if name == "person":
        return int(rng.integers(12, 17)), int(rng.integers(28, 39))
    if name == "table":
        return int(rng.integers(32, 43)), int(rng.integers(14, 20))
    return int(rng.integers(30, 41)), int(rng.integers(22, 31))  # boat


def _overlaps(box, others, pad: float = 2.0) -> bool:
    x1, y1, x2, y2 = box
    return any(
        x1 < b[2] + pad and b[0] - pad < x2 and y1 < b[3] + pad and b[1] - pad < y2 for b in others
    )


def point_box_distance(px: float, py: float, box) -> float:
    """Distance from the point (px, py) to the nearest point of ``box`` (x1, y1, x2, y2)."""
    dx = max(box[0] - px, 0.0, px - box[2])
    dy = max(box[1] - py, 0.0, py - box[3])
    return float(np.hypot(dx, dy))


def _inside(box, canvas: int, margin: int = 1) -> bool:
    return (
        box[0] >= margin
        and box[1] >= margin
        and box[2] <= canvas - margin
        and box[3] <= canvas - margin
    )


# hue ranges (on a 0-6 scale) of the distinct classes: shape and colour both tell them apart
_DISTINCT_HUES = {"kite": (5.1, 5.7), "bottle": (2.0, 2.6), "clock": (3.7, 4.3)}


def _bright_color(
    rng: np.random.Generator, hues: tuple[float, float] = (0.0, 6.0)
) -> tuple[int, int, int]:
    hue = rng.uniform(*hues) % 6
    x = 1 - abs(hue % 2 - 1)
    r, g, b = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(hue)]
    lo = 40
    return tuple(int(lo + (215 - lo) * c) for c in (r, g, b))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Scene layout


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _place_group(
    rng: np.random.Generator, p: SynthParams, ctx: str, objs: list[_Obj], disk_color
) -> None:
    """A context object with a disk beside it, its own context the only one within reach."""
    for _attempt in range(60):
        w, h = _context_box(rng, ctx)
        d = int(rng.integers(p.disk_size[0], p.disk_size[1] + 1))
        gap = int(rng.integers(p.gap[0], p.gap[1] + 1))
        cx1 = int(rng.integers(1, p.canvas - w - 1))
        cy1 = int(rng.integers(1, p.canvas - h - 1))
        cbox = (cx1, cy1, cx1 + w, cy1 + h)
        side = rng.integers(2)  # 0: disk on the left, 1: on the right
        dx1 = cx1 - gap - d if side == 0 else cx1 + w + gap
        dy1 = int(rng.integers(cy1, cy1 + h - d + 1)) if h > d else cy1
        dbox = (dx1, dy1, dx1 + d, dy1 + d)
        if not (_inside(cbox, p.canvas) and _inside(dbox, p.canvas)):
            continue
        boxes = [o.box for o in objs]
        if _overlaps(cbox, boxes, pad=3) or _overlaps(dbox, boxes, pad=3):
            continue
        near = p.distractor_distance[0]
        if any(
            o.name in CONTEXT_OF.values() and point_box_distance(*_centre(dbox), o.box) < near
            for o in objs
        ):
            continue
        if any(
            o.context is not None and point_box_distance(*_centre(o.box), cbox) < near for o in objs
        ):
            continue
        objs.append(_Obj(ctx, cbox, _bright_color(rng)))
        objs.append(_Obj(_AMBIGUOUS_BY_CONTEXT[ctx], dbox, disk_color(), context=len(objs) - 1))
        return


def _place_distractor(rng: np.random.Generator, p: SynthParams, ctx: str, objs: list[_Obj]) -> None:
    """A context object with no disk beside it, at ``distractor_distance`` from a disk (if any)."""
    disks = [o for o in objs if o.context is not None]
    near, far = p.distractor_distance
    anchor = disks[int(rng.integers(len(disks)))] if disks else None
    for _attempt in range(80):
        w, h = _context_box(rng, ctx)
        x1 = int(rng.integers(1, p.canvas - w - 1))
        y1 = int(rng.integers(1, p.canvas - h - 1))
        box = (x1, y1, x1 + w, y1 + h)
        if _overlaps(box, [o.box for o in objs], pad=3):
            continue
        if any(point_box_distance(*_centre(o.box), box) < near for o in disks):
            continue
        if anchor is not None and point_box_distance(*_centre(anchor.box), box) > far:
            continue
        objs.append(_Obj(ctx, box, _bright_color(rng)))
        return


def _layout(rng: np.random.Generator, p: SynthParams) -> list[_Obj]:
    """Place disk+context groups, distractors and distinct objects without overlap."""
    objs: list[_Obj] = []
    contexts = list(CONTEXT_OF.values())
    n_groups = int(rng.choice(3, p=p.groups_p))
    group_types = [contexts[i] for i in rng.permutation(3)[:n_groups]]

    def disk_color() -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers([200, 150, 20], [240, 180, 50]))  # type: ignore[return-value]

    for ctx in group_types:
        _place_group(rng, p, ctx, objs, disk_color)
    free = [c for c in contexts if c not in {o.name for o in objs}]
    for ctx in rng.permutation(free).tolist()[
        : int(rng.choice(len(p.distractors_p), p=p.distractors_p))
    ]:
        _place_distractor(rng, p, ctx, objs)

    n_distinct = int(rng.choice(3, p=p.distinct_p))
    for _ in range(n_distinct):
        name = ("kite", "bottle", "clock")[int(rng.integers(3))]
        for _attempt in range(50):
            s = int(rng.integers(p.small_size[0], p.small_size[1] + 1))
            w = max(4, s // 2) if name == "bottle" else s
            x1 = int(rng.integers(1, p.canvas - w - 1))
            y1 = int(rng.integers(1, p.canvas - s - 1))
            box = (x1, y1, x1 + w, y1 + s)
            if _overlaps(box, [o.box for o in objs], pad=3):
                continue
            objs.append(_Obj(name, box, _bright_color(rng, _DISTINCT_HUES[name])))
            break
    return objs


# ---------------------------------------------------------------------------------------------
# Drawing


def _background(rng: np.random.Generator, canvas: int) -> np.ndarray:
    """A smooth two-colour gradient with pixel noise: (H, W, 3) float."""
    c0, c1 = rng.uniform(60, 190, size=3), rng.uniform(60, 190, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:canvas, 0:canvas] / max(canvas - 1, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    return img + rng.normal(0, 6, size=img.shape)


def _draw(draw: ImageDraw.ImageDraw, o: _Obj) -> None:
    x1, y1, x2, y2 = o.box
    w, h = x2 - x1, y2 - y1
    c, dark = o.color, tuple(v // 3 for v in o.color)
    shape = BY_NAME[o.name][2]
    if shape == "person":
        r = w / 2
        draw.ellipse((x1 + w * 0.2, y1, x2 - w * 0.2, y1 + w * 0.6), fill=c)
        draw.rectangle((x1, y1 + w * 0.65, x2 - 1, y1 + h * 0.65), fill=c)
        draw.rectangle((x1 + 1, y1 + h * 0.65, x1 + r - 1, y2 - 1), fill=dark)
        draw.rectangle((x1 + r + 1, y1 + h * 0.65, x2 - 2, y2 - 1), fill=dark)
    elif shape == "table":
        top = max(3, int(h * 0.3))
        draw.rectangle((x1, y1, x2 - 1, y1 + top), fill=c)
        draw.rectangle((x1 + 2, y1 + top, x1 + 4, y2 - 1), fill=dark)
        draw.rectangle((x2 - 5, y1 + top, x2 - 3, y2 - 1), fill=dark)
    elif shape == "boat":
        hull = y1 + h * 0.6
        draw.polygon(
            [(x1, hull), (x2 - 1, hull), (x2 - w * 0.2, y2 - 1), (x1 + w * 0.2, y2 - 1)], fill=c
        )
        mx = x1 + w * 0.45
        draw.line([(mx, y1), (mx, hull)], fill=dark, width=2)
        draw.polygon(
            [(mx + 1, y1), (mx + 1, hull - 2), (x2 - w * 0.1, hull - 2)], fill=(235, 235, 235)
        )
    elif shape == "disk":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), fill=c, outline=(60, 40, 10))
    elif shape == "diamond":
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        draw.polygon([(mx, y1), (x2 - 1, my), (mx, y2 - 1), (x1, my)], fill=c)
    elif shape == "bottle":
        neck = h * 0.3
        draw.rectangle((x1 + w * 0.3, y1, x2 - 1 - w * 0.3, y1 + neck), fill=dark)
        draw.rectangle((x1, y1 + neck, x2 - 1, y2 - 1), fill=c)
    elif shape == "ring":
        draw.ellipse((x1, y1, x2 - 1, y2 - 1), outline=c, width=max(2, int(w / 4)))


def render_scene(rng: np.random.Generator, params: SynthParams) -> tuple[np.ndarray, list[_Obj]]:
    """Draw one scene: an (H, W, 3) uint8 image and its objects."""
    objs = _layout(rng, params)
    bg = _background(rng, params.canvas)
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for o in objs:
        _draw(draw, o)
    return np.asarray(img), objs


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``: independent of the dataset's size."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def shape_targets(objs: list[_Obj]) -> np.ndarray:
    """Multi-hot over :data:`SHAPES`: what is drawn, blind to context (for backbone pretraining)."""
    target = np.zeros(len(SHAPES), dtype=np.float32)
    for o in objs:
        target[SHAPES.index(BY_NAME[o.name][2])] = 1.0
    return target
