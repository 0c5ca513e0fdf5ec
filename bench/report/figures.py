"""The figures of the reports of their own: AP per class by arm (a heatmap), one run's AP bars,
and each arm's difference to its reference with every seed's (intervals and dots).

Each returns a :class:`bench.plots.figures.Plot`, the figure with the numbers it shows, so a test
can check what is drawn. Study curves and training curves come from :mod:`bench.plots.figures` and
:mod:`bench.plots.curves` unchanged.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.plots.figures import Plot
from bench.store import RunRecord
from bench.studies.selection import StudyRuns
from bench.tables.study import StudyTable

_ANNOTATE = 400  # cells: above this, numbers in the cells would not be readable
_WIDE = 11.5  # inches: the widest figure a report page shows at its natural size


def class_ap_by_arm(selected: StudyRuns) -> pd.DataFrame:
    """Mean AP over seeds of each class (rows, in the first run's order) and arm (columns)."""
    records = []
    for r in selected.finished:
        for cls, ap in (r["per_class_ap"] or {}).items():
            if ap is not None and math.isfinite(ap):
                records.append({"class": cls, "arm": r["arm"], "AP": float(ap)})
    if not records:
        raise ValueError(f"no per-class AP in the finished runs of study {selected.title()}")
    raw = pd.DataFrame(records)
    arms = [a.name for a in selected.study.arms if a.name in set(raw["arm"])]
    classes = list(dict.fromkeys(raw["class"]))
    return raw.pivot_table(index="class", columns="arm", values="AP", aggfunc="mean").reindex(
        index=classes, columns=arms
    )


def class_heatmap(selected: StudyRuns) -> Plot:
    """AP per class by arm, mean over seeds; beside it, with a reference arm, each arm's AP
    minus the reference's (which classes an arm helps and which it costs)."""
    ap = class_ap_by_arm(selected)
    reference = selected.study.reference
    panels: list[tuple[str, pd.DataFrame, str, float | None]] = [("mean AP (%)", ap, "crest", None)]
    if reference in ap.columns and len(ap.columns) > 1:
        delta = ap.sub(ap[reference], axis=0).drop(columns=reference)
        panels.append((f"AP − AP of {reference!r} (points)", delta, "vlag_r", 0.0))
    n_cls, n_arm = ap.shape
    annotate = n_cls * n_arm <= _ANNOTATE
    widths = [0.62 * frame.shape[1] + 1.9 for _, frame, _, _ in panels]
    height = 0.3 * n_cls + 1.6
    stacked = sum(widths) > _WIDE  # side by side, the page would shrink the numbers unreadable
    with sns.axes_style("white"), sns.plotting_context("paper", font_scale=1.0):
        if stacked:
            fig = Figure(figsize=(max(widths) + 1.0, height * len(panels)), layout="constrained")
            axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        else:
            fig = Figure(figsize=(sum(widths) + 1.0, height), layout="constrained")
            ratios = [frame.shape[1] + 1.5 for _, frame, _, _ in panels]
            axes = fig.subplots(1, len(panels), width_ratios=ratios, squeeze=False)[0]
    for k, (ax, (title, frame, cmap, center)) in enumerate(zip(axes, panels, strict=True)):
        largest = float(frame.abs().max().max()) if center is not None else math.nan
        limit = largest if math.isfinite(largest) and largest > 0 else None  # None: seaborn's
        with warnings.catch_warnings():  # seaborn's own use of a matplotlib API on its way out
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(
                frame,
                ax=ax,
                cmap=cmap,
                center=center,
                vmin=-limit if limit else None,
                vmax=limit if limit else None,
                annot=annotate,
                fmt=".1f",
                annot_kws={"fontsize": 7},
                linewidths=0.5,
                linecolor="white",
                cbar_kws={"shrink": 0.8, "pad": 0.02},
            )
        ax.set_title(title, loc="left", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("class" if k == 0 or stacked else "")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.tick_params(axis="y", labelrotation=0, labelsize=8, left=False)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        if k > 0 and not stacked:  # the rows are the first panel's
            ax.set_yticklabels([])
    data = ap.reset_index().melt(id_vars="class", var_name="arm", value_name="AP")
    return Plot(fig, data)


def run_class_bars(run: RunRecord) -> Plot:
    """One run's AP per class, bars sorted from best to worst, its mAP as a dashed line.

    Raises:
        ValueError: the run has no per-class AP.
    """
    values = {c: v for c, v in (run.per_class_ap or {}).items() if v is not None and v == v}
    if not values:
        raise ValueError(f"run {run.run_key[:10]} has no per-class AP (status {run.status})")
    data = pd.DataFrame({"class": list(values), "AP": list(values.values())})
    data = data.sort_values("AP", ascending=False, kind="stable").reset_index(drop=True)
    palette = sns.color_palette("colorblind")
    with sns.axes_style("ticks"), sns.plotting_context("paper", font_scale=1.1):
        fig = Figure(figsize=(max(4.5, 0.34 * len(data) + 1.6), 3.1), layout="constrained")
        ax = fig.add_subplot()
    ax.bar(range(len(data)), data["AP"], color=palette[0], width=0.72, edgecolor="none")
    mean = float(data["AP"].mean())
    ax.axhline(mean, color="0.3", linestyle="--", linewidth=1.0, label=f"mean {mean:.1f}")
    ax.set_xticks(range(len(data)), data["class"], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(data) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("AP (%)")
    ax.legend(frameon=False, loc="upper right", fontsize=8)
    sns.despine(ax=ax)
    ax.grid(axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)
    return Plot(fig, data)


def difference_figure(table: StudyTable) -> Plot:
    """Each compared arm's difference to its reference: the interval (a bar), the mean (a
    diamond, filled when starred) and every seed's own difference (dots), beside 0.

    Seeds that disagree in sign show at once as dots on both sides of the line.
    """
    rows = [
        (arm, c, c.ci) for arm, c in table.comparisons.items() if c.ci is not None
    ]  # the table's order: the study's arms, with each one's interval
    if not rows:
        raise ValueError(f"study {table.runs.title()} has no arm compared with a reference")
    data = pd.DataFrame(
        [
            {"arm": arm, "delta": ci.delta, "low": ci.low, "high": ci.high,
             "star": c.star, "p_improve": ci.p_improve, "per_seed": list(ci.per_seed)}
            for arm, c, ci in rows
        ]
    )  # fmt: skip
    height = 0.42 * len(rows) + 1.3
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig = Figure(figsize=(7.4, height), layout="constrained")
        ax = fig.subplots()
        y = list(range(len(rows)))[::-1]
        for yi, (_, c, ci) in zip(y, rows, strict=True):
            ax.plot([ci.low, ci.high], [yi, yi], color="#4c72b0", lw=2.2, solid_capstyle="butt")
            ax.scatter(
                ci.per_seed, [yi] * len(ci.per_seed), s=16, color="#555555", zorder=3,
                alpha=0.8, label=None,
            )  # fmt: skip
            ax.scatter(
                [ci.delta], [yi], marker="D", s=42, zorder=4, edgecolor="#4c72b0",
                facecolor="#4c72b0" if c.star else "white",
            )  # fmt: skip
        ax.axvline(0, color="#999999", lw=1)
        ax.set_yticks(y, [f"{arm}  (P>ref {ci.p_improve:.2f})" for arm, _, ci in rows])
        ax.set_xlabel(f"Δ{table.metrics[0]} to the reference (points)")
        ax.set_title(
            f"{table.runs.title()}: bar = {table.caption_interval().split(' (')[0]}; "
            "diamond = mean (filled: counts as real); dots = seeds",
            fontsize=8, loc="left",
        )  # fmt: skip
        ax.grid(axis="y", visible=False)
    return Plot(fig, data)
