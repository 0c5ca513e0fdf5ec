"""The audit of the reported numbers: each check on hand-made rows, then on the papers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.tables.audit import audit, check_class_mean, check_f1, f1_summary, row_marks
from bench.tables.reported import Column, ReportedRow, ReportedTable, TableSpec, load

runner = CliRunner()
C = [Column("", m) for m in ("F1-C", "P-C", "R-C", "F1-O", "P-O", "R-O")]
HM_ROWS = {"CNN-RNN", "RNN-Attention", "ML-GCN", "MS-CMA", "C-Tran"}
NOT_HM_ROWS = {
    "ResNet101",
    "ResNet101-SRN",
    "ResNet101-ACfs",
    "DecoupleNet",
    "ResNet101-CRL",
    "KSSNet",
    "The Proposed",
}


def _table(columns, *rows, per_class=False) -> ReportedTable:
    """A one-version table from rows of printed strings."""
    made = []
    for i, values in enumerate(rows, 1):
        cells = dict(zip(columns, values, strict=True))
        made.append(ReportedRow(i, f"row{i}", f"row{i}", f"row{i}", "", "", "value", cells))
    spec = TableSpec("t", "t.csv", "test table", per_class)
    return ReportedTable(spec, "paper", "v1", ("v1",), "1", tuple(columns), tuple(made))


@pytest.mark.parametrize(
    ("f1", "status"),
    # P 80.8 and R 63.4 give a harmonic mean of 71.05, 71.00-71.10 within their rounding
    [("71.0", "ok"), ("71.1", "ok"), ("70.9", "mismatch"), ("71.2", "mismatch")],
)
def test_f1_allows_exactly_the_printed_rounding(f1, status):
    (finding,) = [f for f in check_f1(_table(C, [f1, "80.8", "63.4", "", "", ""]))]
    assert finding.status == status and finding.column == "F1-C"
    assert ("71.05" in finding.message) and ("71.00-71.10" in finding.message)
    if status == "mismatch":
        assert finding.mark == "†" and "mean of per-class F1" in finding.message


def test_a_micro_f1_off_its_harmonic_mean_is_an_error_not_a_convention():
    (finding,) = check_f1(_table(C, ["", "", "", "60.7", "59.8", "61.4"]))
    assert finding.status == "mismatch" and finding.mark == "§"
    assert "by definition" in finding.message


def test_class_mean_against_map_within_rounding_note_and_beyond():
    cols = [Column("", c) for c in ("a", "b", "mAP")]
    rows = (["90.0", "91.0", "90.5"], ["93.8", "93.91", "93.8"], ["90.0", "91.0", "90.7"])
    ok, note, bad = check_class_mean(_table(cols, *rows, per_class=True))
    assert (ok.status, note.status, bad.status) == ("ok", "note", "mismatch")
    assert "90.500" in ok.message and "beyond rounding" in bad.message and bad.mark == "§"


def test_scac_table1_cf1_conventions_row_by_row():
    for version in ("icassp2022", "preprint"):
        f1 = [
            f
            for f in audit("coco")
            if f.check == "f1-harmonic" and f.column == "F1-C" and f.version == version
        ]
        assert {f.row for f in f1 if f.status == "ok"} == HM_ROWS
        assert {f.row for f in f1 if f.status == "mismatch"} == NOT_HM_ROWS
        micro = [f for f in audit("coco") if f.column == "F1-O" and f.version == version]
        assert micro and all(f.status == "ok" for f in micro)  # every OF1 fits OP and OR


def test_scac_text_disagrees_with_the_icassp_table_and_agrees_with_the_preprint():
    claims = [f for f in audit("coco") if f.check == "text-claim"]
    icassp = {f.message: f.status for f in claims if f.version == "icassp2022"}
    assert sum(s == "mismatch" for s in icassp.values()) == 5
    assert any("86.3" in m and "86.0" in m for m in icassp)
    assert any("80.6" in m and "80.3" in m for m in icassp)
    assert any("83.1" in m and "83.2" in m for m in icassp)
    assert any("86.0 - 85.1 = 0.9" in m for m in icassp)  # "surpasses C-Tran by 1.2%"
    assert all(f.status == "ok" for f in claims if f.version == "preprint")


def test_versions_differ_only_in_the_proposed_row_of_table1():
    (diff,) = [f for f in audit("coco") if f.check == "versions" and f.status == "mismatch"]
    assert diff.row == "The Proposed" and "mAP 86.0 vs 86.3" in diff.message
    assert "R-O 80.6 vs 83.4" in diff.message
    voc = [f for f in audit("voc") if f.check == "versions"]
    assert any(f.status == "ok" and "same values" in f.message for f in voc)


def test_cross_paper_baselines_and_the_top3_row_in_scac_table1():
    cross = {(f.table, f.row, f.version): f for f in audit() if f.check == "cross-paper"}
    cnn = cross[("coco", "CNN-RNN", "icassp2022")]
    assert cnn.status == "convention" and cnn.mark == "‡" and cnn.other == "srn-coco"
    assert cross[("coco", "ResNet101", "icassp2022")].status == "ok"
    assert cross[("lc-nus", "SRN", "2023")].status == "ok"
    assert cross[("lc-coco", "Ours (448×448)", "2023")].status == "ok"


def test_peer_papers_checks():
    srn = audit("srn-coco")
    warp = [f for f in srn if f.row == "WARP" and f.status == "mismatch"]
    assert len(warp) == 1 and warp[0].column == "F1-O (top-3)"
    lc = audit("lc-partial")
    assert any(f.check == "printed-gain" and f.status == "ok" for f in lc)
    assert all(f.status == "ok" for f in audit() if f.check == "text-claim" and f.table[:2] == "lc")


def test_row_marks_and_f1_summary():
    marks = row_marks(load("coco"))
    assert marks["The Proposed"] == "†§" and marks["CNN-RNN"] == "‡" and "C-Tran" not in marks
    assert row_marks(load("coco", "preprint"))["The Proposed"] == "†"  # agrees with its text
    lines = f1_summary(audit("coco"))
    assert lines[0].startswith("coco (icassp2022) F1-C: harmonic mean of P and R: CNN-RNN")


def test_unknown_table_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: coco, voc, srn-nus"):
        audit("nope")


def test_cli_audit_one_table_all_and_errors():
    result = runner.invoke(app, ["audit", "coco"])
    assert result.exit_code == 0, result.output
    assert "The Proposed" in result.output and "86.3" in result.output
    assert "harmonic mean of P and R: CNN-RNN, RNN-Attention, ML-GCN, MS-CMA, C-Tran" in (
        result.output.replace("\n", " ")
    )
    everything = runner.invoke(app, ["audit", "--all"])
    assert everything.exit_code == 0 and " ok " in everything.output
    assert "lc-partial" in everything.output
    bad = runner.invoke(app, ["audit", "nope"])
    assert (
        bad.exit_code == 2 and "unknown table 'nope'" in bad.output and "lc-ablation" in bad.output
    )
