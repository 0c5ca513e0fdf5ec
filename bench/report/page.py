"""Self-contained HTML reports of a study and of a run (``bench report``), to show colleagues.

A study's report answers its question on one page: the question, its arms and why each is
there; the study table as the terminal prints it (mean ± std over seeds, best in bold, each
arm's paired bootstrap interval to its reference); the metric against the studied parameter;
AP per class by arm; the training curves; and where every number comes from (each run's key,
commit, versions, machine, config). A run's report shows one run the same way. The page is
built by :mod:`bench.report.html` and :mod:`bench.report.tables`, its figures by
:mod:`bench.plots.figures`, :mod:`bench.plots.curves` and :mod:`bench.report.figures`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.plots.curves import DEFAULT as CURVE_NAMES
from bench.plots.curves import curves
from bench.plots.figures import study_curve
from bench.report import html as h
from bench.report import tables as t
from bench.report.figures import class_heatmap, difference_figure, run_class_bars
from bench.store import RunRecord, Store
from bench.store.diff import flat, shown
from bench.studies.files import load_study
from bench.studies.selection import StudyRuns, study_runs
from bench.tables.study import StudyTable, study_table

# -- figures, or a line saying why there is none --------------------------------------------------


def _study_figure(selected: StudyRuns) -> str:
    study = selected.study
    if not study.parameter:
        return h.note(f"Study {study.name} names no parameter, so there is no curve over one.")
    metrics = [
        m for m in study.metrics if all(m in (r["metrics"] or {}) for r in selected.finished)
    ]
    metrics = metrics[:4]  # more lines on one axes would hide each other
    plot = study_curve(selected, metrics=metrics or None)
    # several lines share the axes: the legend goes beside them rather than over a line
    plot.figure.axes[0].legend(frameon=False, fontsize=7.5, loc="upper left",
                               bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    plot.figure.set_size_inches(7.4, 3.6)
    shown_metrics = ", ".join(metrics or study.metrics[:1])
    caption = (
        f"{shown_metrics} against {study.parameter}: mean over seeds per arm, "
        "the band ±1 standard deviation."
    )
    return h.figure(plot.figure, caption, alt=f"{study.name}: metrics against {study.parameter}")


def _difference_figure(table: StudyTable) -> str:
    if not any(c.ci is not None for c in table.comparisons.values()):
        return h.note("No arm of this study is compared with a reference arm.")
    plot = difference_figure(table)
    caption = (
        f"Each arm's Δ{table.metrics[0]} to its reference: the {table.caption_interval()} (bar), "
        "its mean over seeds (diamond, filled when it counts as real after Holm's correction), "
        "every seed's own difference (dots), and P>ref, the share of seeds and image resamples "
        "in which the arm beats its reference."
    )
    return h.figure(plot.figure, caption, alt="differences to the reference arm, per seed")


def _class_figure(selected: StudyRuns) -> str:
    if not any(r["per_class_ap"] for r in selected.finished):
        return h.note("The finished runs record no per-class AP.")
    plot = class_heatmap(selected)
    caption = "AP of each class (rows) by arm (columns), mean over seeds."
    if len(plot.figure.axes) > 2:  # a second heatmap (and its colour bar): the differences
        caption += " Second panel: each arm minus the reference arm, in AP points (blue: better)."
    return h.figure(plot.figure, caption, alt="AP per class by arm")


def _curve_figure(store: Store, keys: list[str], selected: StudyRuns | None) -> str:
    rows = store.history(keys)
    if not rows:
        return h.note(
            "No training curves were recorded for these runs (the store holds no history rows "
            "for them: they ran before curves were logged, or on a store that was not written)."
        )
    logged = {r["name"] for r in rows}
    wanted = any(n in logged or (n.endswith("*") and any(x.startswith(n[:-1]) for x in logged))
                 for n in CURVE_NAMES)  # fmt: skip
    names = None if wanted else sorted(logged)[:6]
    if selected is not None:
        plot = curves(store, study=selected, names=names)
        what = "per arm, the mean over seeds with a ±1 std band"
    else:
        plot = curves(store, runs=keys, names=names)
        what = "one line per run"
    caption = f"Training curves by optimiser step, {what}; {len({r['run_key'] for r in rows})} "
    caption += f"of {len(keys)} runs logged a curve."
    return h.figure(plot.figure, caption, alt="training curves")


# -- the reports ----------------------------------------------------------------------------------


def _meta(store: Store, *parts: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f'<p class="meta">{h.esc(" · ".join([*parts, f"store {store.display}", stamp]))}</p>'


def study_report(
    store: Store,
    study_name: str,
    *,
    smoke: bool = False,
    variant: str = "",
    seeds: tuple[int, ...] | None = None,
    ci: str = "seeds+images",
) -> str:
    """One HTML document reporting a study's finished runs: question, arms, table, figures,
    provenance and configs.

    Args:
        store: the results store.
        study_name: a study name (``studies/NAME.toml``) or a path to a study file.
        smoke: the study's smoke-size runs.
        variant: a ``--set`` variant of the study (``""``: the plain study).
        seeds: the seeds to show (default: the study's).
        ci: the interval of each arm's difference to its reference
        (:mod:`bench.comparisons.paired`).

    Raises:
        ConfigError: an unknown study (the known ones listed).
        ValueError: an unknown variant, or no finished run of the study in the store.
    """
    study = load_study(study_name)
    selected = study_runs(store, study, variant=variant, seeds=seeds, smoke=smoke)
    if not selected.finished:
        raise ValueError(selected.nothing_finished())
    keys = [r["run_key"] for r in selected.finished]
    table = study_table(selected, ci=ci)
    variant_line = [f"variant {variant}"] if variant else []
    header = "\n".join(
        [
            f"<h1>Study {h.esc(selected.title())}</h1>",
            f'<p class="question">{h.esc(study.question)}</p>',
            _meta(store, *variant_line, f"recipe {study.recipe.stem}",
                  f"{len(keys)} finished runs, seeds {', '.join(map(str, selected.seeds))}"),
        ]
    )  # fmt: skip
    sections = [
        h.section("Arms", t.arms_html(selected)),
        h.section("Results", t.study_table_html(table)),
        h.section("Differences to the reference", _difference_figure(table)),
        h.section("Against the studied parameter", _study_figure(selected)),
        h.section("AP per class", _class_figure(selected)),
        h.section("Training curves", _curve_figure(store, keys, selected)),
        h.section("Provenance", t.provenance_html(selected)),
        h.section("Configs", t.configs_html(selected)),
    ]
    return h.page(f"Study {selected.title()}", header, sections)


def _memberships(store: Store, key: str) -> str:
    rows = [r for r in store.list_runs() if r["run_key"] == key and r["study"] is not None]
    if not rows:
        return "not a member of any study"
    parts = []
    for r in rows:
        variant = f" [{r['variant']}]" if r["variant"] else ""
        smoke = " (smoke)" if r["smoke"] else ""
        parts.append(f"study {r['study']}{variant}{smoke}, arm {r['arm']}, seed {r['seed']}")
    return "member of " + "; ".join(parts)


def run_report(store: Store, run: str) -> str:
    """One HTML document reporting a run: provenance, metrics, AP per class, curves, config.

    Args:
        store: the results store.
        run: the run's key or a unique prefix of it.

    Raises:
        KeyError: no such run, or an ambiguous prefix (the message names it).
    """
    record = store.get(run)
    details = {k: v for k, v in (record.details or {}).items() if k != "warnings"}
    facts = {
        **t.facts(record),
        "wall seconds": "-" if record.wall_seconds is None else f"{record.wall_seconds:.1f}",
        "attempts": str(record.attempts),
        "created": t.when(record.created_at),
        "updated": t.when(record.updated_at),
        **{f"details.{k}": shown(v) for k, v in flat(details).items()},
    }
    header = "\n".join(
        [
            f"<h1>Run {h.esc(record.run_key)}</h1>",
            f'<p class="question">{h.esc(_memberships(store, record.run_key))}</p>',
            _meta(store, f"model {record.model}", f"status {record.state}"),
        ]
    )
    metrics = {k: "-" if v is None else f"{v:.2f}" for k, v in (record.metrics or {}).items()}
    sections = [h.section("Provenance", h.key_values(facts))]
    for warning in (record.details or {}).get("warnings", []):
        sections.append(h.note(f"warning: {warning}"))
    if record.error:
        sections.append(h.section("Error", f"<pre>{h.esc(record.error)}</pre>"))
    sections += [
        h.section(
            "Metrics",
            h.key_values(metrics, caption="in %", numbers=True, per_row=3)
            if metrics
            else h.note("No metrics recorded."),
        ),
        h.section("AP per class", _run_classes(record)),
        h.section("Training curves", _curve_figure(store, [record.run_key], None)),
        h.section(
            "Config",
            h.key_values({k: shown(v) for k, v in flat(record.config or {}).items()}, per_row=2),
        ),
    ]
    return h.page(f"Run {record.run_key}", header, sections)


def _run_classes(record: RunRecord) -> str:
    if not any(v is not None for v in (record.per_class_ap or {}).values()):
        return h.note("No per-class AP recorded.")
    plot = run_class_bars(record)
    return h.figure(plot.figure, "AP of each class, best first; dashed: their mean.", alt="AP")


__all__ = ["run_report", "study_report"]
