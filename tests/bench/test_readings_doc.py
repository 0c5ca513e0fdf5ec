"""docs/readings.md keeps up with the readings study: every switch an arm sets has a row in the
switches table, and every arm has a measured row in the study's table."""

from __future__ import annotations

import re
from pathlib import Path

from bench.studies.files import load_study

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "readings.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def test_every_switch_an_arm_sets_has_a_row():
    rows = _section("## The switches")
    study = load_study("readings")
    keys = {key for arm in study.arms for key in arm.overrides}
    # a phase's settings are one row (the optimiser's); a switch is named by its field
    fields = {re.sub(r"^train\.phases\.\d+\.", "train.phases.N.", k) for k in keys}
    missing = [
        k for k in sorted(fields)
        if k.split(".")[-1] not in rows and not k.startswith(("train.phases.N.", "train.grad"))
    ]  # fmt: skip
    assert not missing, (
        f"switches set by readings arms without a row in docs/readings.md: {missing}"
    )
    assert "lr_decay" in rows, "the learning-rate decay reading has no row"


def test_every_arm_of_both_studies_has_a_measured_row():
    measured = _section("## Measured")
    for name in ("readings", "readings_context"):
        for arm in load_study(name).arms:
            assert f"| {arm.name} | 3 |" in measured, f"{name}: arm {arm.name!r} is not measured"
