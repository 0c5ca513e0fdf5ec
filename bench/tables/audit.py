"""An audit of the reported numbers: do the papers' tables add up?

Every check allows exactly the rounding of the printed digits (half a unit of the last printed
decimal on each number), no more:

* ``f1-harmonic``: F1 against the harmonic mean of the printed P and R. Micro F1 is by
  definition the harmonic mean of OP and OR; CF1 is one only under the ML-GCN convention, so a
  CF1 outside the interval was most likely computed as the mean of per-class F1 (SRN's way).
* ``voc-mean``: the mean of the printed per-class APs against the printed mAP.
* ``text-claim``: numbers and gains stated in the text against the table (``claims.csv``).
* ``printed-gain``: printed difference rows (LC Table 5's "(+6.7)") against the two rows.
* ``versions``: two versions of one paper that print different numbers.
* ``cross-paper``: a baseline printed in two papers, and a row that reuses another paper's
  top-3 results in its all-label columns (a convention mixed into one column).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from bench.tables.reported import (
    Column,
    ReportedTable,
    decimals,
    load,
    load_frame,
    reported_dir,
    spec,
    table_names,
)

STATUSES = ("ok", "note", "mismatch", "convention")
# row marks in regenerated tables, by what a finding says about the row
MARKS = {
    "†": "CF1 is not the harmonic mean of its printed CP and CR (likely the mean of per-class F1)",
    "‡": "values another paper prints as top-3 results, here in the all-label columns",
    "§": "does not add up (text, mAP or F1 against the printed numbers): see `bench audit`",
}
# (F1, P, R) header triples: per-class (macro) and overall (micro)
_TRIPLES = {"C": (("F1-C", "P-C", "R-C"), ("CF1", "CP", "CR")), "O": (("F1-O", "P-O", "R-O"),)}
# the same printed rows in two tables: (table, row, groups), (table, row, groups), relation
_CROSS = (
    (("coco", "ResNet101", ("",)), ("srn-coco", "ResNet-101", ("All",)), "same"),
    (("coco", "ResNet101-SRN", ("",)), ("srn-coco", "ResNet-SRN", ("All",)), "same"),
    (("coco", "CNN-RNN", ("",)), ("srn-coco", "CNN-RNN", ("top-3",)), "convention"),
    (("coco", "C-Tran", ("",)), ("lc-coco", "C-Tran (576×576)", ("All",)), "same"),
    (("coco", "ML-GCN", ("",)), ("lc-coco", "ML-GCN (448×448)", ("All",)), "same"),
    (("coco", "MS-CMA", ("",)), ("lc-coco", "MS-CMA (448×448)", ("All",)), "same"),
    (("lc-nus", "SRN", ("", "All")), ("srn-nus", "ResNet-SRN", ("All",)), "same"),
    (("lc-nus", "SRN", ("Top-3",)), ("srn-nus", "ResNet-SRN", ("top-3",)), "same"),
    (("lc-nus", "CNN-RNN", ("Top-3",)), ("srn-nus", "CNN-RNN", ("top-3",)), "same"),
    (
        ("lc-coco", "ResNet-101* (448×448)", ("All", "Top-3")),
        ("lc-ablation", "(none)", None),
        "same",
    ),
    (
        ("lc-coco", "Ours (448×448)", ("All", "Top-3")),
        ("lc-ablation", "MLFF + LCIE + Spatial + Full + Partial", None),
        "same",
    ),
)
_CANONICAL = {"F1-C": "CF1", "P-C": "CP", "R-C": "CR", "F1-O": "OF1", "P-O": "OP", "R-O": "OR"}


@dataclass(frozen=True)
class Finding:
    """One checked fact about a reported table.

    Attributes:
        check: which check (see the module docstring).
        table: the table's command-line name; ``other`` the second table of a cross-paper check.
        version: the paper version checked.
        row: the row's label (as ``bench table`` shows it).
        status: ``ok`` (adds up), ``note`` (adds up only within rounding, or for information),
            ``mismatch`` (does not add up) or ``convention`` (a mixed convention).
        message: the numbers, in words.
        mark: the symbol the row gets in regenerated tables (see ``MARKS``), or empty.
        column: the column checked, where one is (``F1-C (top-3)``).
    """

    check: str
    table: str
    version: str
    row: str
    status: str
    message: str
    other: str = ""
    mark: str = ""
    column: str = ""


def _d(text: str) -> Decimal:
    return Decimal(text)


def _half(text: str) -> Decimal:
    return Decimal(5) / Decimal(10) ** (decimals(text) + 1)


def _hm(p: Decimal, r: Decimal) -> Decimal:
    return 2 * p * r / (p + r) if p + r else Decimal(0)


def _fmt(x: Decimal, places: int = 2) -> str:
    return str(x.quantize(Decimal(10) ** -places, rounding=ROUND_HALF_UP))


def _cell(row, metric: str, group: str) -> str:
    return row.values.get(Column(group, metric), "")


def check_f1(table: ReportedTable) -> list[Finding]:
    """F1 against the harmonic mean of the printed P and R, for every row and column group."""
    out = []
    groups = list(dict.fromkeys(c.group for c in table.columns))
    for row in table.rows:
        if row.kind != "value":
            continue
        for kind, triples in _TRIPLES.items():
            for names in triples:
                for group in groups:
                    f, p, r = (_cell(row, n, group) for n in names)
                    if f and p and r:
                        out.append(_f1_finding(table, row.label, kind, names, group, f, p, r))
    return out


def _f1_finding(table, label, kind, names, group, f, p, r) -> Finding:
    hm = _hm(_d(p), _d(r))
    low = _hm(_d(p) - _half(p), _d(r) - _half(r))
    high = _hm(_d(p) + _half(p), _d(r) + _half(r))
    fits = low <= _d(f) + _half(f) and high >= _d(f) - _half(f)
    where = names[0] + (f" ({group})" if group else "")
    said = (
        f"{where} {f} vs harmonic mean of {names[1]} {p} and {names[2]} {r} = "
        f"{_fmt(hm)} ({_fmt(low)}-{_fmt(high)} within the printed rounding)"
    )
    found = functools.partial(Finding, "f1-harmonic", table.spec.name, table.version, label)
    if fits:
        return found("ok", said + ": fits", column=where)
    if kind == "C":
        why = ": not the harmonic mean, likely the mean of per-class F1"
        return found("mismatch", said + why, mark="†", column=where)
    why = ": micro F1 is by definition the harmonic mean of OP and OR, so one number is wrong"
    return found("mismatch", said + why, mark="§", column=where)


def check_class_mean(table: ReportedTable) -> list[Finding]:
    """Per-class tables: the mean of the printed per-class APs against the printed mAP."""
    if not table.spec.per_class:
        return []
    out = []
    classes = [c for c in table.columns if c.metric != "mAP"]
    for row in table.rows:
        printed = _cell(row, "mAP", "")
        aps = [row.values.get(c, "") for c in classes]
        if not printed or not all(aps):
            continue
        mean = sum((_d(a) for a in aps), Decimal(0)) / len(aps)
        slack = max(_half(a) for a in aps) + _half(printed)
        rounded = mean.quantize(Decimal(10) ** -decimals(printed), rounding=ROUND_HALF_UP)
        said = f"mean of the {len(aps)} printed APs = {_fmt(mean, 3)} vs printed mAP {printed}"
        if rounded == _d(printed):
            status, said = "ok", said + ": agrees"
        elif abs(mean - _d(printed)) <= slack:
            status = "note"
            said += f": rounds to {rounded}, but within the rounding of the per-class values"
        else:
            status = "mismatch"
            said += f": differs by {_fmt(mean - _d(printed), 3)}, beyond rounding"
        mark = "§" if status == "mismatch" else ""
        out.append(
            Finding("voc-mean", table.spec.name, table.version, row.label, status, said, mark=mark)
        )
    return out


def check_gain_rows(table: ReportedTable) -> list[Finding]:
    """Printed difference rows (setting ``gain over REF``) against the two printed rows."""
    out = []
    for row in table.rows:
        if row.kind != "gain":
            continue
        target = table.find(row.method)
        reference = table.find(row.setting.removeprefix("gain over ").strip())
        bad = []
        for col in table.columns:
            printed = row.values.get(col, "")
            a = _cell(target, col.metric, col.group)
            b = _cell(reference, col.metric, col.group)
            if printed and a and b and _d(printed) != _d(a) - _d(b):
                bad.append(f"{col.header}: printed {printed}, {a} - {b} = {_d(a) - _d(b)}")
        said = (
            "; ".join(bad)
            if bad
            else f"every printed gain equals {target.label} - {reference.label}"
        )
        out.append(
            Finding(
                "printed-gain",
                table.spec.name,
                table.version,
                row.label,
                "mismatch" if bad else "ok",
                said,
                mark="§" if bad else "",
            )
        )
    return out


def _claims() -> pd.DataFrame:
    return pd.read_csv(reported_dir() / "claims.csv", dtype=str, keep_default_na=False)


def _table_name(paper: str, number: str) -> str:
    for name in table_names():
        first = load_frame(name).iloc[0]
        if first["paper"] == paper and first["table"] == number:
            return name
    raise KeyError(f"claims.csv names {paper} Table {number}, which is not transcribed")


def check_claims(name: str | None = None) -> list[Finding]:
    """The text's numbers and gains (``results/reported/claims.csv``) against the tables."""
    out = []
    for c in _claims().itertuples():
        tname = _table_name(c.paper, c.table)
        if name is not None and tname != name:
            continue
        table = load(tname, c.version)
        row = table.find(c.row)
        value = _cell(row, c.metric, c.group)
        where = f"{c.metric}{f' ({c.group})' if c.group else ''}"
        quote = f"§{c.section}: \u201c{c.quote}\u201d"
        if c.kind == "gain":
            ref = table.find(c.reference)
            other = _cell(ref, c.metric, c.group)
            actual: Decimal | None = _d(value) - _d(other)
            said = (
                f"{quote} claims {where} {row.label} - {ref.label} = {c.value}; the table gives "
                f"{value} - {other} = {actual}"
            )
            slack = _half(value) + _half(other)
        else:
            actual = _d(value) if value else None
            said = f"{quote} claims {where} {c.value}; the table prints {value or '-'}"
            slack = Decimal(0)
        if actual == _d(c.value):
            status = "ok"
        elif actual is not None and abs(actual - _d(c.value)) <= slack:
            status, said = "note", said + " (within rounding of the unrounded numbers)"
        else:
            status = "mismatch"
        mark = "§" if status == "mismatch" else ""
        out.append(Finding("text-claim", tname, c.version, row.label, status, said, mark=mark))
    return out


def check_versions(name: str) -> list[Finding]:
    """Rows whose printed values differ between the versions of one paper."""
    first = load(name)
    out = []
    for version in first.versions[1:]:
        other = load(name, version)
        pair = f"{first.version} vs {version}"
        moved = []
        for a, b in zip(first.rows, other.rows, strict=True):
            diffs = [
                f"{col.header} {a.values.get(col) or '-'} vs {b.values.get(col) or '-'}"
                for col in first.columns
                if a.values.get(col, "") != b.values.get(col, "")
            ]
            if diffs:
                said = f"{pair}: " + "; ".join(diffs)
                out.append(Finding("versions", name, version, a.label, "mismatch", said))
            if a.citation != b.citation:
                moved.append(f"{a.method} {a.citation} -> {b.citation}")
        if not any(f.version == version for f in out):
            out.append(
                Finding("versions", name, version, "(all rows)", "ok", f"{pair}: same values")
            )
        if moved:
            said = f"{pair}: references renumbered: " + "; ".join(moved)
            out.append(Finding("versions", name, version, "(citations)", "note", said))
    return out


def _values(
    name: str, label: str, groups: tuple[str, ...] | None, version: str | None = None
) -> tuple[str, dict[str, str]]:
    """A row's printed values in the given column groups, keyed by canonical metric name."""
    table = load(name, version)
    row = table.find(label)
    cols = [c for c in table.columns if groups is None or c.group in groups]
    counts = Counter(_CANONICAL.get(c.metric, c.metric) for c in cols)
    picked = {}
    for col in cols:
        metric = _CANONICAL.get(col.metric, col.metric)
        key = metric if counts[metric] == 1 else f"{metric} ({col.group})"
        if row.values.get(col):
            picked[key] = row.values[col]
    return row.label, picked


def check_cross_paper(name: str | None = None) -> list[Finding]:
    """Rows printed in two tables: the same numbers, or a convention mixed into a column."""
    out = []
    for (ta, ra, ga), (tb, rb, gb), relation in _CROSS:
        if name is not None and name not in (ta, tb):
            continue
        for version in load(ta).versions:
            out.append(_cross(ta, ra, ga, tb, rb, gb, relation, version))
    return out


def _cross(ta, ra, ga, tb, rb, gb, relation, version) -> Finding:
    la, va = _values(ta, ra, ga, version)
    lb, vb = _values(tb, rb, gb if gb is not None else ga)
    shared = [m for m in va if m in vb]
    same = [m for m in shared if va[m] == vb[m]]
    differ = [f"{m} {va[m]} vs {vb[m]}" for m in shared if va[m] != vb[m]]
    where = f"{spec(ta).title.split(':')[0]} {la!r} vs {spec(tb).title.split(':')[0]} {lb!r}"
    if relation == "convention" and not differ and same:
        status, mark = "convention", "‡"
        said = (
            f"{where}: the all-label columns repeat the other table's "
            f"{', '.join(gb)} values ({' '.join(va[m] for m in same)}): "
            "a top-3 result among threshold results"
        )
    elif differ:
        status, mark = "mismatch", "§"
        said = f"{where}: {'; '.join(differ)}"
    else:
        status, mark = "ok", ""
        said = f"{where}: same {', '.join(same)}"
    return Finding("cross-paper", ta, version, la, status, said, tb, mark)


def audit(name: str | None = None) -> list[Finding]:
    """Every check on table ``name`` (all tables when None), every version.

    Raises:
        KeyError: unknown table name (the known ones listed).
    """
    names = [spec(name).name] if name is not None else table_names()
    out = []
    for n in names:
        for version in load(n).versions:
            table = load(n, version)
            out += check_f1(table) + check_class_mean(table) + check_gain_rows(table)
        out += check_versions(n)
    out += check_claims(name) + check_cross_paper(name)
    return out


def f1_summary(findings: list[Finding]) -> list[str]:
    """One line per table version and column: which rows' CF1 is the harmonic mean of CP and
    CR (the ML-GCN convention) and which is not (likely the mean of per-class F1)."""
    lines = []
    f1 = [f for f in findings if f.check == "f1-harmonic" and f.column.startswith(("F1-C", "CF1"))]
    for key in dict.fromkeys((f.table, f.version, f.column) for f in f1):
        mine = [f for f in f1 if (f.table, f.version, f.column) == key]
        fits = ", ".join(f.row for f in mine if f.status == "ok") or "none"
        not_hm = ", ".join(f.row for f in mine if f.status != "ok") or "none"
        lines.append(
            f"{key[0]} ({key[1]}) {key[2]}: harmonic mean of P and R: {fits}; "
            f"not (likely mean of per-class F1): {not_hm}"
        )
    return lines


def row_marks(table: ReportedTable) -> dict[str, str]:
    """Row label -> the marks (``MARKS`` symbols) its findings give it in this version."""
    marks: dict[str, str] = {}
    for f in audit(table.spec.name):
        if f.mark and f.version == table.version and f.table == table.spec.name:
            have = marks.get(f.row, "") + f.mark
            marks[f.row] = "".join(m for m in MARKS if m in have)
    return marks
