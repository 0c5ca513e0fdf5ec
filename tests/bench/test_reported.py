"""The transcribed tables: well-formed, consistent, and equal to the numbers in the paper texts.

Every tab-separated table in the extracted texts is parsed here independently of the
transcription and compared value by value with ``results/reported/*.csv``.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd
import pytest

from bench.tables.audit import audit
from bench.tables.reported import CSV_COLUMNS, KINDS, load, load_frame, reported_dir, table_names
from tests.papers.excerpts import HERE, SHARED, TABLES, excerpt, normalise, papers_folder

# the full texts beside the checkout (../shared/papers), else the excerpts the project ships
PAPERS = papers_folder()
needs_papers = pytest.mark.skipif(
    not (PAPERS / "scac-icassp2022.txt").is_file(), reason="neither the papers nor their excerpts"
)
NUMBER = re.compile(r"^\d+\.\d$")


def _lines(name: str) -> list[str]:
    return (PAPERS / name).read_text().splitlines()


def _block(lines: list[str], header: str, skip: int) -> list[list[str]]:
    """Rows (cells) of the tab-separated table whose first line starts with ``header``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + skip :]:
        if not line.strip():
            break
        rows.append(line.rstrip("\t").split("\t"))
    return rows


def _values(name: str, version: str | None = None) -> list[list[str]]:
    """The CSV's values of a table, row by row in printed order, '' where nothing is printed."""
    table = load(name, version)
    return [[r.values[c] for c in table.columns] for r in table.rows]


def _printed(cells: list[str]) -> list[str]:
    return ["" if c.strip() in ("-", "–") else c.strip().strip("()") for c in cells]


@pytest.mark.parametrize("name", table_names())
def test_every_csv_is_well_formed(name):
    frame = load_frame(name)
    assert tuple(frame.columns) == CSV_COLUMNS
    assert set(frame["kind"]) <= set(KINDS)
    assert all(v == "" or re.fullmatch(r"[+-]?\d+\.\d", v) for v in frame["value"]), name
    assert not (frame["value"] == "0").any()  # missing is empty, never zero
    key = ["version", "row", "group", "metric"]
    assert not frame.duplicated(key).any(), "a value transcribed twice"
    for version, sub in frame.groupby("version"):
        rows = sorted(sub["row"].astype(int).unique())
        assert rows == list(range(1, len(rows) + 1)), f"{name} {version}: rows not 1..n"
        per_row = sub.groupby("row").size()
        assert per_row.nunique() == 1, f"{name} {version}: ragged rows"
        assert (sub.groupby("row")[["method", "citation", "setting"]].nunique() == 1).all().all()


def test_every_table_file_is_named_and_nothing_else_lies_in_the_folder():
    files = {p.name for p in reported_dir().glob("*.csv")}
    from bench.tables.reported import SPECS

    assert files == {s.file for s in SPECS} | {"claims.csv"}


def test_voc_means_match_the_printed_map_or_are_audit_findings():
    findings = {(f.version, f.row): f for f in audit("voc") if f.check == "voc-mean"}
    for version in ("icassp2022", "preprint"):
        table = load("voc", version)
        classes = [c for c in table.columns if c.metric != "mAP"]
        assert len(classes) == 20
        for row in table.rows:
            mean = sum(Decimal(row.values[c]) for c in classes) / 20
            printed = Decimal(row.values[table.columns[-1]])
            finding = findings[(version, row.label)]
            if abs(mean - printed) <= Decimal("0.05"):
                assert finding.status == "ok", finding
            else:  # within the rounding of the per-class values, and said so
                assert abs(mean - printed) <= Decimal("0.1") and finding.status == "note"
    assert findings[("icassp2022", "ResNet101-CRL")].status == "note"  # 93.855 printed 93.8


def test_a_handful_of_values_as_printed():
    assert _values("coco", "icassp2022")[-1] == "86.0 80.3 84.0 77.5 83.2 85.9 80.6".split()
    assert _values("coco", "preprint")[-1] == "86.3 80.6 81.3 80.4 83.1 82.8 83.4".split()
    assert _values("coco")[2][0] == ""  # RNN-Attention prints no mAP
    assert load("voc").rows[-1].values[load("voc").columns[4]] == "90.5"  # bottle
    assert load("voc").columns[0].metric == "areoplane"  # sic
    assert _values("srn-wider")[-1] == ["86.2", "75.9", "81.3"]
    assert _values("lc-partial")[-1][-1] == "+15.4"  # printed "(+15.4)" under Ours
    assert load("lc-ablation").rows[6].label == "MLFF + LCIE + Spatial + Full + Partial (o)"
    assert load("lc-coco").find("Ours (576x576)").values[load("lc-coco").columns[0]] == "87.9"


@needs_papers
def test_scac_icassp_tables_equal_the_text():
    lines = _lines("scac-icassp2022.txt")
    t1 = _block(lines, "Method\tmAP\tF1-C", 1)
    t2 = _block(lines, "Method\tareoplane", 1)
    assert [_printed(r[1:]) for r in t1] == _values("coco", "icassp2022")
    assert [_printed(r[1:]) for r in t2] == _values("voc", "icassp2022")
    assert [r[0] for r in t1] == [r.printed for r in load("coco", "icassp2022").rows]


@needs_papers
def test_scac_preprint_tables_equal_the_text():
    text = "\n".join(_lines("scac-preprint.txt"))
    num = r"(-|\d+\.\d)"
    method = r"^([A-Za-z][^.\n]*?) "  # a method cell holds no decimal number
    t1 = re.findall(method + " ".join([num] * 7) + "$", text, flags=re.M)
    t2 = re.findall(method + " ".join([num] * 21) + "$", text, flags=re.M)
    assert [_printed(list(r[1:])) for r in t1] == _values("coco", "preprint")
    assert [_printed(list(r[1:])) for r in t2] == _values("voc", "preprint")
    assert [r[0] for r in t2] == [r.printed for r in load("voc", "preprint").rows]


@needs_papers
def test_the_poster_repeats_the_icassp_tables():
    lines = _lines("scac-poster.txt")
    t1 = _block(lines, "Method\tmAP\tF1-C", 1)
    assert [_printed(r[1:]) for r in t1] == _values("coco", "icassp2022")
    top = _block(lines, "Method\tareoplane", 1)[:9]  # the poster splits Table 2 in two
    rest = _block(lines, "\tdog\thorse", 1)
    joined = [_printed(a[1:] + b[1:]) for a, b in zip(top, rest, strict=True)]
    assert joined == _values("voc", "icassp2022")


@needs_papers
@pytest.mark.parametrize(
    ("name", "header", "skip", "lead"),
    [
        ("srn-nus", "Method\tAll\t\t\t\t\t\t\ttop-3", 2, 1),
        ("srn-coco", "Method\tAll\t\t\t\t\t\t\t\ttop-3", 2, 1),
        ("srn-wider", "Mctilou\tmAP", 1, 1),
        ("lc-coco", "Methods\tResolution", 2, 2),
        ("lc-nus", "Methods\tmAP\tAll", 2, 1),
        ("lc-ablation", "MLFF\tLCIE", 2, 5),
        ("lc-backbones", "Backbone\tOurs", 2, 2),
        ("lc-partial", "Method\t10%", 1, 1),
    ],
)
def test_peer_tables_equal_the_text(name, header, skip, lead):
    paper = "srn-cvpr2017.txt" if name.startswith("srn") else "latent-context-2023.txt"
    printed = [_printed(r[lead:]) for r in _block(_lines(paper), header, skip)]
    ours = [[v.lstrip("+") for v in row] for row in _values(name)]
    assert [[v.lstrip("+") for v in row] for row in printed] == ours


def test_claims_are_well_formed_and_point_at_transcribed_rows():
    claims = pd.read_csv(reported_dir() / "claims.csv", dtype=str, keep_default_na=False)
    assert set(claims["kind"]) == {"value", "gain"}
    assert (claims[claims["kind"] == "gain"]["reference"] != "").all()
    assert all(NUMBER.match(v) for v in claims["value"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="the full paper texts are not beside the checkout")
@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_shipped_excerpts_are_verbatim_lines_of_the_papers(name):
    assert (HERE / name).read_text() == excerpt(name, (SHARED / name).read_text())


@needs_papers
def test_every_claim_is_quoted_from_its_paper():
    claims = pd.read_csv(reported_dir() / "claims.csv", dtype=str, keep_default_na=False)
    for c in claims.itertuples():
        text = normalise((PAPERS / f"{c.paper}-{c.version}.txt").read_text())
        for part in c.quote.split(" ... "):
            assert part in text, (c.paper, c.version, part)
