"""Figures of what SCAC's branches see: object and context patches drawn on an image.

Each function returns a :class:`bench.plots.figures.Plot` whose ``data`` holds every drawn box
(kind, patch index, x1, y1, x2, y2 in the model's input pixels) and the scores shown, so a test
checks the drawing against the model. The numbers come from :mod:`scac.engine.inspect`; nothing here
runs a model.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench.plots.figures import Plot
from bench.store import RunRecord, Store
from scac.config import from_dict
from scac.engine.inspect import AttentionView, PatchView, expanded, load_finished
from scac.engine.run import Assembly
from scac.predictions import Predictions

_PALETTE = sns.color_palette("colorblind")
THRESHOLD = 0.5  # a label is predicted when its fused probability reaches it


def drawn_patches(view: PatchView, top: int) -> list[int]:
    """The patches drawn: the ``top`` by objectness, then any patch that decides a predicted
    label (so every decision is visible), in that order."""
    order = [int(i) for i in np.argsort(-view.objectness, kind="stable")[:top]]
    for cls in np.flatnonzero(view.fused >= THRESHOLD):
        for decide in view.deciding.values():
            if len(decide) and int(decide[cls]) not in order:
                order.append(int(decide[cls]))
    return order


def with_context(view: PatchView, patches: list[int], top: int) -> list[int]:
    """Of the drawn ``patches``, those whose context patch is drawn too: the ``top`` by
    objectness and those that decide a predicted label in the context branch (the object
    branch never reads the context, so its deciding patches are drawn without it)."""
    decide = view.deciding.get("context", np.zeros(0, np.int64))
    deciding = {int(decide[c]) for c in np.flatnonzero(view.fused >= THRESHOLD) if len(decide)}
    return [i for k, i in enumerate(patches) if k < top or i in deciding]


def _box(ax, box, color, style="-", width=1.6, z=3) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    ax.add_patch(
        Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linestyle=style,
                  linewidth=width, zorder=z)
    )  # fmt: skip


def _rows(kind: str, boxes: np.ndarray, index: list[int], **extra) -> list[dict]:
    return [
        {"kind": kind, "patch": i, "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], **extra}
        for i, b in zip(index, boxes, strict=True)
    ]


def _draw_image(
    ax,
    view: PatchView,
    patches: list[int],
    context: np.ndarray | None,
    title: str,
    context_of: list[int] | None = None,
    tags: list[str] | None = None,
):
    """The image, its ground-truth boxes (white dotted), the patches (solid, tagged: numbered
    by default) and the context patches of ``context_of`` (default: all; dashed, the patch's
    colour); the rows of the drawn boxes."""
    context_of = patches if context_of is None else context_of
    tags = tags or [str(k + 1) for k in range(len(patches))]
    ax.imshow(view.image, interpolation="bilinear")
    h, w = view.image.shape[:2]
    rows = []
    for g in view.gt_boxes:
        _box(ax, g, "white", ":", 1.0, z=2)
    rows += _rows("gt", view.gt_boxes, list(range(len(view.gt_boxes))))
    for k, i in enumerate(patches):
        color = _PALETTE[k % len(_PALETTE)]
        _box(ax, view.patches[i], color)
        if context is not None and i in context_of:
            _box(ax, context[i], color, "--", 1.0)
        x1, y1 = view.patches[i][:2]
        tag = {"boxstyle": "square,pad=0.1", "facecolor": color, "linewidth": 0}
        ax.text(x1 + 1, y1 + 1, tags[k], color="white", fontsize=7, va="top", ha="left",
                bbox=tag, zorder=4)  # fmt: skip
    rows += _rows("patch", view.patches[patches], patches)
    if context is not None:
        shown = [i for i in patches if i in context_of]
        rows += _rows("context", context[shown], shown)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, loc="left", fontsize=8)
    return rows


def _top_labels(view: PatchView, branch: str, i: int, k: int = 2) -> str:
    probs = view.patch_probs[branch][i]
    best = np.argsort(-probs, kind="stable")[:k]
    return ", ".join(f"{view.classes[c]} {probs[c]:.2f}" for c in best)


def _patch_table(ax, view: PatchView, patches: list[int]) -> None:
    """Per drawn patch: objectness, each branch's top labels, the labels it decides."""
    ax.axis("off")
    lines = ["#   obj.   object branch              context branch"]
    for k, i in enumerate(patches):
        obj = _top_labels(view, "object", i) if "object" in view.patch_probs else "-"
        ctx = _top_labels(view, "context", i) if "context" in view.patch_probs else "-"
        lines.append(f"{k + 1:<3} {view.objectness[i]:.2f}   {obj:<26} {ctx}")
        decides = [
            f"{view.classes[c]} ({branch})"
            for c in np.flatnonzero(view.fused >= THRESHOLD)
            for branch, decide in view.deciding.items()
            if len(decide) and int(decide[c]) == i
        ]
        if decides:
            lines.append(f"      decides {', '.join(decides)}")
    ax.text(0, 1, "\n".join(lines), family="monospace", fontsize=6.5, va="top", ha="left",
            transform=ax.transAxes)  # fmt: skip


def _image_scores(ax, view: PatchView, most: int = 12) -> pd.DataFrame:
    """Horizontal bars: each branch's image-level probability and the fused one, per class
    (the true ones and the best scored, at most ``most``); true classes marked."""
    keep = np.flatnonzero(view.targets == 1).tolist()
    for c in np.argsort(-view.fused, kind="stable"):
        if len(keep) >= max(most, int(view.targets.sum())):
            break
        if int(c) not in keep:
            keep.append(int(c))
    keep = sorted(keep, key=lambda c: -view.fused[c])
    series = {**{f"{b} branch": p for b, p in view.image_probs.items()}, "fused": view.fused}
    y = np.arange(len(keep))
    height = 0.8 / len(series)
    for s, (name, probs) in enumerate(series.items()):
        color = {"object branch": _PALETTE[0], "context branch": _PALETTE[1]}.get(name, "0.25")
        ax.barh(y + s * height, probs[keep], height, label=name, color=color)
    ax.axvline(THRESHOLD, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_yticks(y + height * (len(series) - 1) / 2)
    names = [f"{view.classes[c]} {'(true)' if view.targets[c] else ''}".strip() for c in keep]
    ax.set_yticklabels(names, fontsize=7)
    for tick, c in zip(ax.get_yticklabels(), keep, strict=True):
        tick.set_fontweight("bold" if view.targets[c] else "normal")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=6.5, frameon=False, loc="lower right")
    sns.despine(ax=ax)
    return pd.DataFrame(
        [
            {"kind": "score", "class": view.classes[c], "series": name, "value": float(p[c])}
            for name, p in series.items()
            for c in keep
        ]
    )


def patches_figure(view: PatchView, top: int = 5, label: str = "") -> Plot:
    """One image: its top patches and their context, what each patch says, the image's scores."""
    patches = drawn_patches(view, top)
    with sns.axes_style("white"):
        fig = Figure(figsize=(11.0, 4.2), layout="constrained")
        image_ax, table_ax, score_ax = fig.subplots(1, 3, width_ratios=[1.0, 1.05, 0.8])
    ratio = f"context ratio {view.ratio:g}" if view.ratio else "no context branch"
    fig.suptitle(
        f"{label}image {view.image_id}, {ratio}, {view.aggregation} pooling: the top {top} "
        "patches by objectness and those deciding a predicted label (solid), their context "
        "(dashed), ground truth (dotted white)",
        fontsize=8,
    )
    context_of = with_context(view, patches, top)
    rows = _draw_image(image_ax, view, patches, view.context_patches, "", context_of)
    _patch_table(table_ax, view, patches)
    scores = _image_scores(score_ax, view)
    data = pd.concat([pd.DataFrame(rows), scores], ignore_index=True)
    return Plot(fig, data)


MAX_RATIO = 100.0  # a context patch this many times its object's side covers any image


def check_ratios(ratios: list[float]) -> list[float]:
    """Expansion ratios to draw: finite, from 1.0 (no context) to :data:`MAX_RATIO`.

    Raises:
        ValueError: naming the values that are not.
    """
    bad = [r for r in ratios if not (math.isfinite(r) and 1 <= r <= MAX_RATIO)]
    if not ratios or bad:
        raise ValueError(
            f"ratios must be numbers from 1.0 (no context) to {MAX_RATIO:g} (beyond, a context "
            f"patch is the whole image anyway); got {', '.join(f'{r:g}' for r in bad) or 'none'}"
        )
    return ratios


def context_figure(view: PatchView, ratios: list[float], top: int = 3) -> Plot:
    """The same top patches expanded at several ratios, side by side: what each arm of
    ``context_ratio`` hands the context branch."""
    check_ratios(ratios)
    patches = drawn_patches(view, top)[:top]
    h, w = view.image.shape[:2]
    with sns.axes_style("white"):
        fig = Figure(figsize=(2.6 * len(ratios), 2.9), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(ratios)))
    rows = []
    for ax, ratio in zip(axes, ratios, strict=True):
        context = expanded(view.patches, ratio, (h, w))
        drawn = _draw_image(ax, view, patches, context, f"ratio {ratio:g}")
        rows += [{**r, "ratio": ratio} for r in drawn]
    fig.suptitle(
        f"image {view.image_id}: the top {len(patches)} object patches (solid) and what the "
        "context branch reads at each ratio (dashed)",
        fontsize=8,
    )
    return Plot(fig, pd.DataFrame(rows))


def disagreements(a: Predictions, b: Predictions, n: int) -> list[int]:
    """The ``n`` image ids where two runs' probabilities differ most on the ambiguous classes
    (all classes when none is marked ambiguous): sum over those classes of |p_a - p_b|.

    Raises:
        ValueError: the runs scored different images or classes.
    """
    if list(a.classes) != list(b.classes) or not np.array_equal(a.image_ids, b.image_ids):
        raise ValueError("the two runs scored different images or classes: nothing to pair")
    groups = np.asarray(a.class_groups)
    cols = np.flatnonzero(groups == "ambiguous")
    cols = cols if len(cols) else np.arange(len(a.classes))
    gap = np.abs(a.scores[:, cols] - b.scores[:, cols]).sum(1)  # (N,)
    return [int(a.image_ids[i]) for i in np.argsort(-gap, kind="stable")[:n]]


def _ambiguous(view: PatchView) -> np.ndarray:
    """Column indices of the ambiguous classes (the 3 best scored when none is marked)."""
    cols = np.flatnonzero(np.asarray(view.class_groups) == "ambiguous")
    return cols if len(cols) else np.argsort(-view.fused, kind="stable")[:3]


def deciding_patches(view: PatchView) -> tuple[list[int], list[str]]:
    """For each ambiguous class present or predicted: the patch deciding it in each branch,
    tagged with the class (``(obj)`` where the object branch's differs from the context's)."""
    tags: dict[int, list[str]] = {}
    for c in _ambiguous(view):
        if not (view.targets[c] or view.fused[c] >= THRESHOLD):
            continue
        seen = set()
        for branch in ("context", "object"):
            decide = view.deciding.get(branch)
            if decide is None or not len(decide) or int(decide[c]) in seen:
                continue
            i = int(decide[c])
            seen.add(i)
            suffix = " (obj)" if branch == "object" and "context" in view.deciding else ""
            tags.setdefault(i, []).append(view.classes[c] + suffix)
    return list(tags), [", ".join(t) for t in tags.values()]


def pairs_figure(pairs: list[tuple[PatchView, PatchView]], labels: tuple[str, str]) -> Plot:
    """Rows of images, two runs side by side: for each ambiguous class present or predicted,
    the patch that decided it (solid, tagged with the class) and the context that patch's
    context branch read (dashed); each run's fused scores of those classes in the title."""
    with sns.axes_style("white"):
        fig = Figure(figsize=(6.4, 3.2 * len(pairs)), layout="constrained")
        axes = np.asarray(fig.subplots(len(pairs), 2)).reshape(len(pairs), 2)
    rows = []
    for r, views in enumerate(pairs):
        for col, (view, label) in enumerate(zip(views, labels, strict=True)):
            said = ", ".join(
                f"{view.classes[c]}{'*' if view.targets[c] else ''} {view.fused[c]:.2f}"
                for c in _ambiguous(view)
            )
            patches, tags = deciding_patches(view)
            title = f"{label}, image {view.image_id}\n{said}"
            drawn = _draw_image(axes[r, col], view, patches, view.context_patches, title,
                                tags=tags)  # fmt: skip
            rows += [{**d, "run": label, "image": view.image_id} for d in drawn]
    fig.suptitle(
        "fused probability of the ambiguous classes (* = present); boxes: the patch that "
        "decided each (solid) and its context (dashed)",
        fontsize=8,
    )
    return Plot(fig, pd.DataFrame(rows))


def attention_figure(view: AttentionView, top: int = 4, label: str = "") -> Plot:
    """An SRN run's attention maps (eq. 4) over the image: the true labels and the best scored
    (``top`` panels at least), each map upsampled to the image, with its probability."""
    order = [int(c) for c in np.argsort(-view.scores, kind="stable")]
    shown = [c for c in order if view.targets[c]] + [c for c in order if not view.targets[c]]
    shown = shown[: max(top, int(view.targets.sum()))]
    h, w = view.image.shape[:2]
    with sns.axes_style("white"):
        fig = Figure(figsize=(2.3 * (len(shown) + 1), 2.7), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(shown) + 1))
    axes[0].imshow(view.image)
    axes[0].set_title(f"image {view.image_id}", loc="left", fontsize=8)
    rows = []
    for ax, c in zip(axes[1:], shown, strict=True):
        ax.imshow(view.image)
        ax.imshow(view.attention[c], extent=(0, w, h, 0), cmap="magma", alpha=0.55,
                  interpolation="bilinear")  # fmt: skip
        truth = "present" if view.targets[c] else "absent"
        ax.set_title(f"{view.classes[c]} {view.scores[c]:.2f} ({truth})", loc="left", fontsize=8)
        rows.append({"kind": "attention", "class": view.classes[c], "score": view.scores[c],
                     "peak": float(view.attention[c].max())})  # fmt: skip
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{label}SRN attention maps (eq. 4) of the true and best-scored labels",
                 fontsize=8)  # fmt: skip
    return Plot(fig, pd.DataFrame(rows))


def load_run(store: Store, run: str, cache_dir: Path) -> tuple[RunRecord, Assembly]:
    """A finished run's record and its model and datasets, from the store and its artifacts.

    Raises:
        KeyError: an unknown run. ValueError: a run that did not finish.
    """
    record = store.get(run)
    if record.status != "finished":
        raise ValueError(f"run {record.run_key[:10]} is {record.status}, not finished")
    cfg = from_dict(record.config)
    return record, load_finished(cfg, store.artifacts_dir(record.run_key), cache_dir)


def run_label(record: RunRecord) -> str:
    """How a figure names a run: its arm and seed when a study holds it, and its key."""
    ratio = record.config.get("model", {}).get("context_ratio")
    what = f"ratio {ratio:g}" if isinstance(ratio, int | float) else record.model
    return f"run {record.run_key[:8]} ({what}, seed {record.config.get('seed', '?')})"
