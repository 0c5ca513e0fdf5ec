"""The tables of the reports (:mod:`bench.report.page`), as HTML: a study's table as the terminal
prints it, its arms, and where each run comes from (code, machine, config).

The study table has the cells of :func:`bench.cli.study_table.study_table` (the same numbers,
formatted the same way, the same cells bold), so a page and a terminal never disagree.
Provenance and configs list once what every run shares, then per run only what differs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.report import html as h
from bench.store import RunRecord
from bench.store.diff import flat, shown
from bench.studies.selection import StudyRuns, as_record
from bench.tables.study import StudyTable, mean_std

# -- the study table, as bench.cli.study_table prints it ------------------------------------------


def _caption(table: StudyTable) -> str:
    return "\n".join(table.caption())


def study_table_html(table: StudyTable) -> str:
    """Arm x metric, mean ± std over seeds, best mean per column bold, then the Δ column."""
    study, summary = table.study, table.summary()
    compared = bool(table.comparisons)
    references = {study.reference_of(a) for a in study.arms} - {None}
    header = [h.Cell("arm"), h.Cell("seeds", num=True)]
    header += [h.Cell(m, num=True) for m in table.metrics]
    if compared and study.paired:
        header.append(h.Cell("vs"))
    if compared:
        header.append(h.Cell(table.delta_header(), num=True))
        header += [h.Cell(f"Δ{table.metrics[0]} per seed", num=True), h.Cell("P(> ref)", num=True)]
    best = {m: summary[f"{m} mean"].max() for m in table.metrics}
    rows = []
    for _, row in summary.iterrows():
        cells = [h.Cell(str(row["arm"])), h.Cell(str(row["n"]), num=True)]
        for m in table.metrics:
            mean = row[f"{m} mean"]
            cells.append(h.Cell(mean_std(mean, row[f"{m} std"]), num=True, bold=mean == best[m]))
        if compared:
            arm = next(a for a in study.arms if a.name == row["arm"])
            ref = study.reference_of(arm)
            if study.paired:
                cells.append(h.Cell(ref or ""))
            comparison = table.comparisons.get(arm.name)
            if comparison:
                text = comparison.text()
            else:
                text = "reference" if ref is None and arm.name in references else "-"
            cells.append(h.Cell(text, num=True))
            ci = comparison.ci if comparison else None
            cells.append(h.Cell(comparison.per_seed_text() if comparison and ci else "", num=True))
            cells.append(h.Cell(f"{ci.p_improve:.2f}" if ci else "", num=True))
        rows.append(cells)
    return h.table(header, rows, caption=_caption(table))


# -- provenance and config ------------------------------------------------------------------------


def facts(run: RunRecord) -> dict[str, str]:
    """What a run ran on: code, versions, machine, inputs, as dotted keys to shown values."""
    values = {
        "model": run.model,
        "protocol": run.protocol or "default",
        "commit": run.git_commit,
        "device": run.device,
        "host": run.host,
        "versions": run.versions or {},
        "provenance": run.provenance or {},
    }
    return {k: shown(v) for k, v in flat(values).items()}


def _split(per_run: list[dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(keys every run shares, with their value; keys whose value differs between runs)."""
    keys = list(dict.fromkeys(k for d in per_run for k in d))
    same = {k: per_run[0].get(k, "-") for k in keys if len({d.get(k) for d in per_run}) == 1}
    return same, [k for k in keys if k not in same]


def when(stamp: datetime | None) -> str:
    """A timestamp to the minute, in UTC (runs of one study may come from several time zones)."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if stamp else "-"


def provenance_html(selected: StudyRuns) -> str:
    """One row per finished run (key, arm, seed, first metric, wall time, when, and what differs
    between runs: commit, versions, machine...), then what every run shares, once."""
    rows = selected.finished
    records = [as_record(r) for r in rows]
    metric = selected.study.metrics[0] if selected.study.metrics else None
    per_run = [facts(r) for r in records]
    same, differ = _split(per_run)
    header = [h.Cell("run key"), h.Cell("arm"), h.Cell("seed", num=True)]
    if metric:
        header.append(h.Cell(metric, num=True))
    header += [h.Cell("wall (s)", num=True), h.Cell("finished"), *map(h.Cell, differ)]
    table_rows = []
    for row, run, known in zip(rows, records, per_run, strict=True):
        cells = [h.Cell(run.run_key), h.Cell(row["arm"]), h.Cell(str(row["seed"]), num=True)]
        if metric:
            value = (run.metrics or {}).get(metric)
            cells.append(h.Cell("-" if value is None else f"{value:.1f}", num=True))
        wall = "-" if run.wall_seconds is None else f"{run.wall_seconds:.1f}"
        cells += [h.Cell(wall, num=True), h.Cell(when(run.updated_at))]
        cells += [h.Cell(known.get(k, "-")) for k in differ]
        table_rows.append(cells)
    caption = "Columns after 'finished': what differs between the runs." if differ else ""
    return "\n".join(
        [
            "<h3>Runs</h3>",
            h.table(header, table_rows, long=len(table_rows) > 6, caption=caption),
            "<h3>Shared by every run</h3>",
            h.key_values(same),
        ]
    )  # fmt: skip


def configs_html(selected: StudyRuns) -> str:
    """Each arm's resolved config where it differs from the reference arm's (the first arm's
    without one), what changes with the seed, then (folded) every key all runs share."""
    rows = selected.finished
    configs = [{k: shown(v) for k, v in flat(r["config"] or {}).items()} for r in rows]
    same, differ = _split(configs)
    by_arm: dict[str, dict[str, str]] = {}
    seeded = set()
    for r, c in zip(rows, configs, strict=True):
        first = by_arm.setdefault(r["arm"], c)
        seeded |= {k for k in differ if first.get(k) != c.get(k)}
    base = selected.study.reference if selected.study.reference in by_arm else next(iter(by_arm))
    keys = [k for k in differ if k not in seeded]
    body = [
        [
            h.Cell(arm),
            h.Cell(", ".join(f"{k} = {c.get(k, '-')}" for k in keys
                             if c.get(k) != by_arm[base].get(k)) or "-"),
        ]
        for arm, c in by_arm.items()
    ]  # fmt: skip
    lines = [f"Each arm's resolved config where it differs from arm {base!r} ('-': nowhere)."]
    if seeded:
        lines.append(f"Different between the seeds of one arm: {', '.join(sorted(seeded))}.")
    return "\n".join(
        [
            h.table(["arm", "config"], body, caption="\n".join(lines)),
            h.folded(
                f"the {len(same)} config keys every run shares", h.key_values(same, per_row=2)
            ),
        ]
    )


def arms_html(selected: StudyRuns) -> str:
    """The study's design: each arm, the reason it is there, what it sets, its reference."""
    study = selected.study
    rows = [
        [
            h.Cell(a.name),
            h.Cell(a.reason),
            h.Cell(", ".join(f"{k} = {shown(v)}" for k, v in a.overrides.items()) or "-"),
            h.Cell(study.reference_of(a) or ("reference" if a.name == study.reference else "-")),
        ]
        for a in study.arms
    ]
    return h.table(["arm", "why it is there", "sets", "compared with"], rows)
