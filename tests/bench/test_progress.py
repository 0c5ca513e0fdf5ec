"""Plain-mode progress (output not a terminal): a line per tenth of a pretraining with its loss,
per tenth of the frozen-feature cache, and a line per stage with its duration."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from bench.runs.progress import Reporter
from scac.engine.pretrain import PretrainSettings, synthetic_backbone_weights


def _plain() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(Console(file=out, width=200), live=False), out


@pytest.mark.own_rng  # the pretraining seeds torch, as it does in a run
def test_a_pretraining_logs_each_tenth_with_its_mean_loss(tmp_path):
    reporter, out = _plain()
    settings = PretrainSettings(images=40, epochs=2, batch_size=4, canvas=64, threads=1)
    path = synthetic_backbone_weights("tiny", tmp_path, settings, announce=reporter.stage)
    lines = out.getvalue().splitlines()
    assert path.is_file()
    assert lines[0] == "pretraining synthetic-tiny (first use only) ..."
    tenths = [re.fullmatch(r"  pretraining synthetic-tiny \(first use only\): (\d+)% "
                           r"\((\d+)/20\), loss (\d+\.\d{4})", x) for x in lines[1:-1]]  # fmt: skip
    assert all(tenths), lines
    assert [int(m[1]) for m in tenths] == list(range(10, 101, 10))
    assert [int(m[2]) for m in tenths] == list(range(2, 21, 2))  # 2 epochs x 10 steps
    assert re.fullmatch(
        r"pretraining synthetic-tiny \(first use only\): done in [\d.]+ s", lines[-1]
    )
    # cached: nothing trained, nothing said
    reporter, out = _plain()
    synthetic_backbone_weights("tiny", tmp_path, settings, announce=reporter.stage)
    assert out.getvalue() == ""


def test_the_cache_fill_logs_each_tenth_then_its_total():
    reporter, out = _plain()
    for done in range(0, 101, 7):
        reporter.cache_progress(done, 100)
    reporter.cache_progress(100, 100)
    lines = out.getvalue().splitlines()
    assert [int(re.search(r"(\d+)%", x)[1]) for x in lines[:-1]] == list(range(10, 100, 10))
    assert re.fullmatch(r"frozen-feature cache filled: 100 images in [\d.]+ s", lines[-1])


def test_a_resumed_run_counts_the_epochs_it_did_before():
    """Issue 33: a resumed run printed "frozen epoch 4/6 (1/7)": only this process's epochs."""
    from bench.runs.progress import _EpochLines
    from scac.sections import PhaseConfig

    reporter, out = _plain()
    frozen, joint = PhaseConfig(name="frozen", epochs=6), PhaseConfig(name="joint", epochs=1)
    lines = _EpochLines(reporter, "arm seed 0", (6, 1))
    lines.on_phase_start(frozen, 0, 10)  # resumed after three epochs of the first phase
    lines.on_epoch_end(frozen, 3, 1.0)
    lines.on_phase_start(joint, 1, 10)
    lines.on_epoch_end(joint, 0, 0.5)
    assert "frozen epoch 4/6 (4/7)" in out.getvalue()
    assert "joint epoch 1/1 (7/7)" in out.getvalue()
