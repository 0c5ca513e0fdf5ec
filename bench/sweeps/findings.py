"""What a sweep found: best trials, parameter importances, and Optuna's plots as files."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from bench.sweeps.files import Sweep  # noqa: E402
from bench.sweeps.search import open_sweep  # noqa: E402


@dataclass
class SweepFindings:
    """A sweep's state and findings.

    Attributes:
        name: the sweep.
        metric: the optimised validation metric.
        states: number of trials per state.
        best: the best complete trials: number, value, params, run key.
        importances: parameter -> importance (fANOVA), when two or more trials completed.
        plots: files written (history, importances, parallel coordinates).
    """

    name: str
    metric: str
    states: dict[str, int]
    best: list[dict] = field(default_factory=list)
    importances: dict[str, float] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)


def sweep_findings(
    sweep: Sweep, storage_url: str, out_dir: Path, *, smoke: bool = False, top: int = 5
) -> SweepFindings:
    """Read the sweep's Optuna study and write its plots to ``out_dir``.

    Args:
        sweep: the parsed sweep.
        storage_url: its Optuna storage.
        out_dir: folder for ``history.png``, ``importances.png``, ``parallel.png``.
        smoke: the smoke-size sweep.
        top: how many best trials to list.
    """
    study = open_sweep(sweep, storage_url, smoke=smoke, create=False)
    trials = study.get_trials(deepcopy=False)
    report = SweepFindings(sweep.name, sweep.metric, {})
    for t in trials:
        report.states[t.state.name] = report.states.get(t.state.name, 0) + 1
    complete = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and not math.isnan(t.value)
    ]
    complete.sort(key=lambda t: cast(float, t.value), reverse=sweep.direction == "maximize")
    report.best = [
        {
            "number": t.number,
            "value": t.value,
            "params": t.params,
            "run_key": t.user_attrs.get("run_key"),
        }
        for t in complete[:top]
    ]
    if not complete:
        return report
    out_dir.mkdir(parents=True, exist_ok=True)
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plots: list[tuple[str, Callable[[optuna.Study], Any]]] = [
            ("history", ovm.plot_optimization_history),
            ("parallel", ovm.plot_parallel_coordinate),
        ]
        if len(complete) >= 2 and len(sweep.space) >= 1:
            try:
                report.importances = optuna.importance.get_param_importances(study)
                plots.append(("importances", ovm.plot_param_importances))
            except (RuntimeError, ValueError):
                report.importances = {}  # e.g. every trial with the same parameters
        for name, plot in plots:
            ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=150)
            plt.close(fig)
            report.plots.append(path)
    return report
