"""Training curves from the store: one panel per logged quantity, a line per run, or per arm the
mean over seeds with a ±1 std band (``bench plot curves``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.plots.figures import Plot
from bench.store import Store
from bench.studies.selection import StudyRuns

_PALETTE = sns.color_palette("colorblind")
DEFAULT = ("loss", "loss/*", "lr", "grad_norm", "val/mAP")  # panels, in order; * = every term


def _spans_decades(values: pd.Series) -> bool:
    """Positive values over more than a factor of 30: drawn on a log axis."""
    return bool((values > 0).all() and values.max() / values.min() > 30)


def _panels(logged: list[str], names: list[str] | None) -> list[str]:
    """The names to draw: ``names`` (``x/*`` = every logged ``x/...``) or the default ones that
    were logged; an unknown name is an error listing what was logged."""
    wanted = names or list(DEFAULT)
    out = []
    for w in wanted:
        hits = sorted(n for n in logged if n.startswith(w[:-1])) if w.endswith("*") else [w]
        if names and not w.endswith("*") and w not in logged:
            raise KeyError(f"nothing logged as {w!r}; logged: {', '.join(sorted(logged))}")
        out += [h for h in hits if h in logged and h not in out]
    if not out:
        known = ", ".join(sorted(logged))
        raise KeyError(f"nothing logged as {', '.join(wanted)}; logged: {known}")
    return out


def curves(
    store: Store,
    *,
    runs: list[str] | None = None,
    study: StudyRuns | None = None,
    names: list[str] | None = None,
) -> Plot:
    """Curves of ``runs`` (ids, unique key prefixes) or of a study's finished runs by arm.

    Raises:
        ValueError: neither or both given, or nothing logged for them.
        KeyError: an unknown run or name.
    """
    if runs is None and study is None:
        raise ValueError("give run ids (RUN ...) or a study (--study NAME) to draw the curves of")
    if runs is not None and study is not None:
        raise ValueError("give run ids or a study, not both")
    if study is not None:
        keyed = {r["run_key"]: (r["arm"], r["seed"]) for r in study.finished}
    else:
        keyed = {}
        for run in runs or []:
            key = store.get(run).run_key
            keyed[key] = (key[:10], None)
    rows = pd.DataFrame(store.history(list(keyed)))
    if rows.empty:
        raise ValueError("no training curve in the store for these runs (run before curves?)")
    rows["group"] = [keyed[k][0] for k in rows["run_key"]]
    panels = _panels(rows["name"].unique().tolist(), names)
    cols = min(3, len(panels))
    lines = math.ceil(len(panels) / cols)
    with sns.axes_style("ticks"), sns.plotting_context("paper", font_scale=1.0):
        fig = Figure(figsize=(3.3 * cols, 2.5 * lines), layout="constrained")
        axes = np.atleast_1d(fig.subplots(lines, cols)).ravel()
    groups = list(dict.fromkeys(keyed[k][0] for k in keyed))
    drawn = []
    for ax, name in zip(axes, panels, strict=False):
        sub = rows[rows["name"] == name]
        log = (name.startswith("loss") or name == "grad_norm") and _spans_decades(sub["value"])
        for g, group in enumerate(groups):
            part = sub[sub["group"] == group]
            if part.empty:
                continue
            stats = part.groupby("step")["value"].agg(["mean", "std", "count", "min"]).reset_index()
            color = _PALETTE[g % len(_PALETTE)]
            ax.plot(stats["step"], stats["mean"], color=color, linewidth=1.3, label=group)
            if study is not None and (stats["count"] > 1).any():
                std = stats["std"].fillna(0.0)
                low = stats["mean"] - std
                if log:  # below zero a log axis has no place: the band stops at the lowest run
                    low = low.clip(lower=stats["min"])
                ax.fill_between(stats["step"], low, stats["mean"] + std,
                                color=color, alpha=0.18, linewidth=0)  # fmt: skip
            drawn.append(stats.assign(name=name, group=group))
        ax.set_title(name, loc="left", fontsize=9)
        ax.set_xlabel("optimiser step", fontsize=8)
        if log:
            ax.set_yscale("log")
        sns.despine(ax=ax)
        ax.grid(axis="y", color="0.9", linewidth=0.8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, frameon=False)
    what = f"study {study.study.name}: mean ± std over seeds" if study else "runs"
    fig.suptitle(f"training curves, {what}", fontsize=9)
    return Plot(fig, pd.concat(drawn, ignore_index=True))
