"""Figures: per-class AP gains (SRN Fig. 7, top) and study curves (precision-recall curves:
:mod:`bench.plots.pr`).

Each function returns a :class:`Plot`: the matplotlib ``Figure`` and the plotted numbers as a
``DataFrame``, so a test can check what is drawn (bar heights, line points), not only that a
file appeared. Figures are built without ``pyplot`` (no global state, no display needed) and
styled with seaborn's ``paper`` context; :meth:`Plot.save` writes PNG (300 dpi), PDF or SVG.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.store import RunRecord, Store
from bench.studies.files import known_studies, load_study
from bench.studies.selection import StudyRuns
from bench.tables.measured import check_classes, class_for, metric_for, rows_from_study
from bench.tables.reported import ReportedTable, load

SUFFIXES = (".png", ".pdf", ".svg")
_PALETTE = sns.color_palette("colorblind")


@dataclass
class Plot:
    """A figure and the numbers it shows.

    Attributes:
        figure: the matplotlib figure.
        data: one row per plotted point or bar (columns depend on the plot).
    """

    figure: Figure
    data: pd.DataFrame

    def save(self, path: str | Path) -> Path:
        """Write the figure; the suffix picks the format (``.png``, ``.pdf`` or ``.svg``).

        Raises:
            ValueError: another suffix.
        """
        path = Path(path)
        if path.suffix.lower() not in SUFFIXES:
            raise ValueError(
                f"cannot write {path.name}: the suffix must be one of {', '.join(SUFFIXES)}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.figure.savefig(path, dpi=300, bbox_inches="tight")
        return path


def _figure(width: float, height: float) -> Figure:
    with sns.axes_style("ticks"), sns.plotting_context("paper", font_scale=1.15):
        fig = Figure(figsize=(width, height), layout="constrained")
        fig.add_subplot()
    return fig


def _style(ax) -> None:
    sns.despine(ax=ax)
    ax.grid(axis="y", color="0.9", linewidth=0.8)
    ax.set_axisbelow(True)


# -- per-class AP gains --------------------------------------------------------------------------


def _per_class(
    name: str, table: ReportedTable, open_store: Callable[[], Store] | None
) -> tuple[str, dict[str, float], RunRecord | None]:
    """(display name, class -> AP, the run or None) of a reported row or a run in the store."""
    try:
        row = table.find(name)
    except KeyError as row_error:
        if open_store is None:
            raise
        store = open_store()
        try:
            run = store.get(name)
        except KeyError:
            rows = "; ".join(r.label for r in table.rows)
            raise KeyError(
                f"{name!r} is neither a row of table {table.spec.name} (rows: {rows}) "
                f"nor a run in store {store.display}"
            ) from row_error
        if run.status != "finished":
            raise ValueError(f"run {run.run_key[:10]} is {run.status}, not finished") from None
        values = {c: v for c, v in (run.per_class_ap or {}).items() if v is not None}
        return f"run {run.run_key[:10]}", values, run
    values = {
        class_for(c): v
        for c in table.columns
        if metric_for(c) is None and (v := row.number(c)) is not None
    }
    return row.method or row.label, values, None


def ap_gains(
    target: str,
    baseline: str,
    *,
    table: str = "voc",
    version: str | None = None,
    store: Store | Callable[[], Store] | None = None,
) -> Plot:
    """Per-class AP of ``target`` minus ``baseline``, bars sorted by gain (SRN Fig. 7, top).

    Args:
        target: a row of the per-class table (``"The Proposed"``) or a run id in ``store``.
        baseline: the same kinds.
        table: a per-class table (``voc``).
        version: its paper version.
        store: where run ids are looked up, or a function that opens it (called only for a
            name that is not a row of the table).

    Raises:
        KeyError: a name that is neither a row of the table nor a run (the rows listed).
        ValueError: a run whose classes do not match the table's (or the other run's).
    """
    reported = load(table, version)
    if not reported.spec.per_class:
        raise ValueError(f"table {table} has no per-class columns; per-class tables: voc")
    open_store = (
        None if store is None else functools.cache(store if callable(store) else lambda: store)
    )
    (t_name, t_ap, t_run), (b_name, b_ap, b_run) = (
        _per_class(n, reported, open_store) for n in (target, baseline)
    )
    if t_run is None or b_run is None:  # a run beside a paper's row must have its classes
        for run in (t_run, b_run):
            if run is not None:
                check_classes(run, reported)
    if set(t_ap) != set(b_ap):
        raise ValueError(
            f"{t_name} and {b_name} have different classes: "
            f"{', '.join(sorted(set(t_ap) ^ set(b_ap)))}"
        )
    data = pd.DataFrame(
        {"class": list(t_ap), "target": list(t_ap.values()), "baseline": [b_ap[c] for c in t_ap]}
    )
    data["gain"] = data["target"] - data["baseline"]
    data = data.sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)

    fig = _figure(max(6.0, 0.34 * len(data) + 1.5), 3.4)
    ax = fig.axes[0]
    colors = [_PALETTE[0] if g >= 0 else _PALETTE[3] for g in data["gain"]]
    ax.bar(range(len(data)), data["gain"], color=colors, width=0.75, edgecolor="none")
    ax.axhline(0, color="0.2", linewidth=0.8)
    mean = float(data["gain"].mean())
    label = f"mean {mean:+.2f} (the mAP gain)"
    ax.axhline(mean, color="0.35", linestyle="--", linewidth=1.0, label=label)
    ax.set_xticks(range(len(data)), data["class"], rotation=60, ha="right", rotation_mode="anchor")
    ax.set_xlim(-0.6, len(data) - 0.4)
    ax.set_ylabel("AP gain (points)")
    ax.set_title(f"AP per class: {t_name} − {b_name}", loc="left")
    ax.legend(frameon=False, loc="upper right")
    _style(ax)
    return Plot(fig, data)


# -- study curves --------------------------------------------------------------------------------


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def study_curve(
    selected: StudyRuns,
    *,
    metrics: list[str] | None = None,
    per_class: bool = False,
) -> Plot:
    """Metrics against the studied parameter: mean over seeds, with a ±1 std band.

    Args:
        selected: a study's selected runs (:func:`bench.studies.selection.study_runs`); the study
            needs a ``parameter`` (its value in each run's config is the x axis).
        metrics: metric names (default: the study's first metric).
        per_class: also one thin line per class (mean AP over seeds).

    Raises:
        ValueError: a study without a parameter, a metric no run has, no finished runs.
    """
    study = selected.study
    if not study.parameter:
        with_one = [s for s in known_studies() if _parameter_of(s)]
        raise ValueError(
            f"study {study.name!r} names no parameter to plot against; "
            f"studies with one: {', '.join(with_one)}"
        )
    metrics = metrics or [study.metrics[0]]
    arms = rows_from_study(selected, None)
    records = []
    for arm in arms:
        for run, seed in zip(arm.runs, arm.seeds, strict=True):
            x = _lookup(run.config, study.parameter)
            measured = run.metrics or {}
            for m in metrics:
                if m not in measured:
                    known = ", ".join(measured)
                    raise ValueError(f"no metric {m!r} in run {run.run_key[:10]}; known: {known}")
                records.append(_point(arm.label, seed, x, m, "metric", measured[m]))
            if per_class:
                for cls, ap in (run.per_class_ap or {}).items():
                    records.append(_point(arm.label, seed, x, f"AP {cls}", "class", ap))
    raw = pd.DataFrame(records)
    data = (
        raw.groupby(["series", "kind", "arm", "x"], sort=False)["value"]
        .agg(mean="mean", std="std", n="count")
        .reset_index()
    )
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in data["x"])
    if not numeric:  # categorical parameter: arms in study order
        order = {a.label: i for i, a in enumerate(arms)}
        data["position"] = data["arm"].map(order)
    else:
        data["position"] = data["x"].astype(float)
    data = data.sort_values(["kind", "series", "position"], kind="stable").reset_index(drop=True)
    return Plot(_draw_study(data, selected, arms, numeric), data)


def _parameter_of(name: str) -> str | None:
    """A study's parameter, or None (also for a study file that does not load: this is only a
    hint, and another study's broken file must not stop it)."""
    try:
        return load_study(name).parameter
    except (ValueError, OSError):
        return None


def _point(arm, seed, x, series, kind, value) -> dict:
    return {"arm": arm, "seed": seed, "x": x, "series": series, "kind": kind, "value": value}


def _draw_study(data: pd.DataFrame, selected: StudyRuns, arms, numeric: bool) -> Figure:
    study = selected.study
    classes = data[data["kind"] == "class"]
    fig = _figure(6.6 if len(classes) else 5.2, 3.4)
    ax = fig.axes[0]
    class_colors = sns.color_palette("husl", max(1, classes["series"].nunique()))
    for k, (series, sub) in enumerate(classes.groupby("series", sort=True)):
        ax.plot(
            sub["position"],
            sub["mean"],
            color=class_colors[k],
            linewidth=0.9,
            alpha=0.55,
            linestyle="--",
            label=series,
        )
    for k, (series, sub) in enumerate(data[data["kind"] == "metric"].groupby("series", sort=False)):
        color = _PALETTE[k % len(_PALETTE)]
        std = sub["std"].fillna(0.0)
        ax.fill_between(
            sub["position"],
            sub["mean"] - std,
            sub["mean"] + std,
            color=color,
            alpha=0.18,
            linewidth=0,
        )
        ax.plot(
            sub["position"],
            sub["mean"],
            color=color,
            marker="o",
            linewidth=1.8,
            markersize=4.5,
            label=f"{series} (mean ± std)",
        )
    if study.reference:
        suffix = f" [{selected.variant}]" if selected.variant else ""
        ref = data[data["arm"] == study.reference + suffix]["position"]
        if len(ref):
            ax.axvline(ref.iloc[0], color="0.5", linestyle=":", linewidth=1.0)
            ax.annotate(
                "reference",
                (ref.iloc[0], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=8,
                color="0.4",
            )
    if not numeric:
        ax.set_xticks(range(len(arms)), [a.label for a in arms], rotation=20, ha="right")
    seeds = int(data[data["kind"] == "metric"]["n"].max())
    ax.set_xlabel(study.parameter or "")
    ax.set_ylabel("value (%)")
    ax.set_title(f"{selected.title()}: {seeds} seed{'s' * (seeds > 1)} per arm", loc="left")
    if len(classes):  # many lines: the legend goes beside the axes
        ax.legend(frameon=False, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(frameon=False, fontsize=7.5, loc="best")
    _style(ax)
    return fig


__all__ = ["Plot", "ap_gains", "study_curve"]
