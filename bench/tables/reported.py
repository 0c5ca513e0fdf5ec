"""The papers' tables as data: ``results/reported/*.csv``, one long-format file per table.

Each CSV row is one printed number with its provenance (paper, version, table, printed row,
method and citation as printed, column group and metric as printed); ``results/README.md``
explains every column. This module reads them and names the tables for ``bench table NAME``.
Values stay the strings printed in the paper ("86.0", not 86.0), so a regenerated table
reproduces the paper's digits exactly; a missing value ("-" in the paper) is empty.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bench.studies.resources import bundled

if TYPE_CHECKING:  # pandas loads when a table is read, not when its names are listed
    import pandas as pd

CSV_COLUMNS = (
    "paper",
    "version",
    "table",
    "row",
    "method",
    "citation",
    "setting",
    "group",
    "metric",
    "value",
    "kind",
    "note",
)
KINDS = ("value", "gain")


@dataclass(frozen=True)
class TableSpec:
    """A table of one of the papers, by the name ``bench table`` knows it under.

    Attributes:
        name: the command-line name (``coco``, ``srn-coco``...).
        file: the CSV in ``results/reported/``.
        title: what the table is, for titles and ``--help``.
        per_class: its columns are per-class AP (plus mAP), so a measured row must have
            exactly the table's classes.
    """

    name: str
    file: str
    title: str
    per_class: bool = False


SPECS = (
    TableSpec("coco", "scac-table1-coco.csv", "SCAC Table 1: MS-COCO, mAP and P/R/F1"),
    TableSpec("voc", "scac-table2-voc.csv", "SCAC Table 2: VOC 2007, AP per class", True),
    TableSpec("srn-nus", "srn-table1-nus-wide.csv", "SRN Table 1: NUS-WIDE, all and top-3"),
    TableSpec("srn-coco", "srn-table2-coco.csv", "SRN Table 2: MS-COCO, all and top-3"),
    TableSpec("srn-wider", "srn-table3-wider-attribute.csv", "SRN Table 3: WIDER-Attribute"),
    TableSpec("lc-coco", "latent-context-table1-coco.csv", "Latent-context Table 1: MS-COCO"),
    TableSpec("lc-nus", "latent-context-table2-nus-wide.csv", "Latent-context Table 2: NUS-WIDE"),
    TableSpec(
        "lc-ablation", "latent-context-table3-ablation.csv", "Latent-context Table 3: modules"
    ),
    TableSpec(
        "lc-backbones", "latent-context-table4-backbones.csv", "Latent-context Table 4: backbones"
    ),
    TableSpec(
        "lc-partial",
        "latent-context-table5-partial-labels.csv",
        "Latent-context Table 5: partial labels (mAP by share of labels dropped)",
    ),
)
_BY_NAME = {s.name: s for s in SPECS}


def table_names() -> list[str]:
    """The names ``bench table`` accepts, in paper order."""
    return [s.name for s in SPECS]


def spec(name: str) -> TableSpec:
    """The table called ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    if name not in _BY_NAME:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(table_names())}")
    return _BY_NAME[name]


def reported_dir() -> Path:
    """``$BENCH_REPORTED``, else the toolkit's own (:func:`bench.studies.resources.bundled`)."""
    if os.environ.get("BENCH_REPORTED"):
        return Path(os.environ["BENCH_REPORTED"])
    return bundled("reported")


def normalize(label: str) -> str:
    """A label as compared when a user names a row: case, spacing and ``×``/``x`` ignored."""
    return re.sub(r"\s+", " ", label.replace("×", "x")).strip().casefold()


def row_label(method: str, setting: str) -> str:
    """How a printed row is named: the method, with its setting in parentheses if it has one.

    LC Table 3 prints no method, only ticked modules: its label is the setting alone.
    """
    if method and setting:
        return f"{method} ({setting})"
    return method or setting


def decimals(text: str) -> int:
    """Digits after the decimal point of a printed number (``"86.0"`` -> 1)."""
    exponent = Decimal(text).as_tuple().exponent
    assert isinstance(exponent, int), f"not a finite number: {text!r}"
    return -exponent if "." in text else 0


@dataclass(frozen=True)
class Column:
    """A printed column: its group (``All``, ``top-3``, ``10%`` or empty) and metric."""

    group: str
    metric: str

    @property
    def header(self) -> str:
        """``metric`` alone, or ``metric (group)`` when the table has groups."""
        return f"{self.metric} ({self.group})" if self.group else self.metric


@dataclass(frozen=True)
class ReportedRow:
    """One printed row of one version of a table.

    Attributes:
        label: how commands name it (see :func:`row_label`).
        printed: the method cell as printed (method and citation).
        kind: ``value`` for results, ``gain`` for a printed difference row (LC Table 5).
        values: column -> the printed string ('' where the paper prints '-').
    """

    position: int
    label: str
    printed: str
    method: str
    citation: str
    setting: str
    kind: str
    values: dict[Column, str]

    def number(self, column: Column) -> float | None:
        """The value as a float, None where nothing is printed."""
        text = self.values.get(column, "")
        return float(text) if text else None


@dataclass(frozen=True)
class ReportedTable:
    """One version of a paper's table."""

    spec: TableSpec
    paper: str
    version: str
    versions: tuple[str, ...]
    number: str
    columns: tuple[Column, ...]
    rows: tuple[ReportedRow, ...]

    @property
    def source(self) -> str:
        """Provenance line: paper file, table number and version."""
        return f"{self.paper}-{self.version}.txt, Table {self.number}"

    def find(self, name: str) -> ReportedRow:
        """The row a user means by ``name`` (label, printed cell, or a unique method).

        Raises:
            KeyError: no such row; the message lists the rows.
        """
        want = normalize(name)
        for attr in ("label", "printed"):
            hits = [r for r in self.rows if normalize(getattr(r, attr)) == want]
            if len(hits) == 1:
                return hits[0]
        hits = [r for r in self.rows if normalize(r.method) == want]
        if len(hits) == 1:
            return hits[0]
        known = "; ".join(r.label for r in self.rows)
        raise KeyError(f"no row {name!r} in table {self.spec.name} ({self.version}); rows: {known}")


@functools.lru_cache(maxsize=64)
def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"reported table not found: {path}")
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if tuple(frame.columns) != CSV_COLUMNS:
        raise ValueError(f"{path}: columns must be {', '.join(CSV_COLUMNS)}")
    bad = sorted(set(frame["kind"]) - set(KINDS))
    if bad:
        raise ValueError(f"{path}: unknown kind {bad[0]!r} (known: {', '.join(KINDS)})")
    return frame


def load_frame(name: str) -> pd.DataFrame:
    """The long-format CSV of table ``name``, every version, values as printed strings."""
    return _read(reported_dir() / spec(name).file).copy()


def load(name: str, version: str | None = None) -> ReportedTable:
    """One version of table ``name`` (default: the first in the file, the published one).

    Raises:
        KeyError: unknown table or version (the known ones listed).
    """
    return _load(reported_dir(), spec(name).name, version)


@functools.lru_cache(maxsize=64)
def _load(folder: Path, name: str, version: str | None) -> ReportedTable:
    frame = _read(folder / spec(name).file)
    versions = tuple(dict.fromkeys(frame["version"]))
    version = version or versions[0]
    if version not in versions:
        raise KeyError(f"table {name} has no version {version!r}; known: {', '.join(versions)}")
    frame = frame[frame["version"] == version]
    pairs = zip(frame["group"], frame["metric"], strict=True)
    columns = tuple(dict.fromkeys(Column(g, m) for g, m in pairs))
    rows = []
    for position, sub in frame.groupby(frame["row"].astype(int), sort=True):
        first = sub.iloc[0]
        printed = f"{first['method']} {first['citation']}".strip()
        rows.append(
            ReportedRow(
                position=int(position),
                label=row_label(first["method"], first["setting"]),
                printed=printed,
                method=first["method"],
                citation=first["citation"],
                setting=first["setting"],
                kind=first["kind"],
                values={
                    Column(g, m): v
                    for g, m, v in zip(sub["group"], sub["metric"], sub["value"], strict=True)
                },
            )
        )
    return ReportedTable(
        spec=spec(name),
        paper=str(frame["paper"].iloc[0]),
        version=version,
        versions=versions,
        number=str(frame["table"].iloc[0]),
        columns=columns,
        rows=tuple(rows),
    )
