"""The scripts in ``benchmarks/`` run at tiny sizes and print the figures they promise.

Their figures are measurements, not assertions; these tests only keep the scripts working.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> str:
    """Run ``benchmarks/NAME`` with ``args``; its stdout (fails the test on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_train_throughput_prints_rates_shares_the_cache_ceiling_and_the_profile():
    out = run_script(
        "train_throughput.py", "--data", "random", "--frozen", "--steps", "1", "--warmup", "0",
        "--batch", "3", "--device", "cpu", "--profile",
    )  # fmt: skip
    assert out.startswith("device cpu")
    rows = re.finditer(r"^(SCAC|ResNet baseline)\s+([\d.]+)", out, re.M)
    rates = {m[1]: float(m[2]) for m in rows}
    assert set(rates) == {"SCAC", "ResNet baseline"} and all(v > 0 for v in rates.values())
    shares = re.findall(r"^(backbone|FPN|RPN|RoIAlign|heads)\s+[\d.]+\s+([\d.]+)%", out, re.M)
    assert [s[0] for s in shares] == ["backbone", "FPN", "RPN", "RoIAlign", "heads"]
    assert re.search(r"cache skips .*: [\d.]+% of a frozen-phase step -> at most [\d.]+x", out)
    # the profile of the cached step: its operators, and the dense arithmetic's bound
    assert re.search(r"^aten::convolution_backward\s+[\d.]+$", out, re.M)
    arith = re.search(r"^dense arithmetic .*: ([\d.]+) ms/step", out, re.M)
    assert arith and float(arith[1]) > 0
    bound = re.search(r"\(skipped ([\d.]+) \+ dense ([\d.]+)\) / dense = ([\d.]+)x faster", out)
    assert bound, out
    skipped, dense, times = map(float, bound.groups())  # printed rounded: compare to 5%
    assert dense == float(arith[1])  # the bound uses the dense arithmetic printed above it
    assert times > 1 and abs(times - (skipped + dense) / dense) <= 0.05 * times


def test_study_speed_smoke_gives_identical_numbers_with_and_without_the_cache():
    out = run_script("study_speed.py", "--smoke", "--arms", "1", "--device", "cpu")
    row = next(line for line in out.splitlines() if line.startswith("ratio 1.0 seed 0"))
    assert "yes" in row.split("x", 1)[1]  # the identical column
    assert re.search(r"^all runs\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+yes", out, re.M)


def test_data_throughput_times_both_decoders_on_the_same_pixels():
    out = run_script("data_throughput.py", "--images", "4", "--batch", "2", "--workers", "0")
    agree = re.search(r"^decoders agree: mean \|pil - torchvision\| ([\d.]+), max (\d+)", out, re.M)
    assert agree and float(agree[1]) < 1.0, out  # a fair race: both decode the same images
    rates = dict(re.findall(r"^(pil|torchvision)\s+([\d.]+) /s", out, re.M))
    assert set(rates) == {"pil", "torchvision"} and all(float(r) > 0 for r in rates.values())


def test_roi_align_speed_times_both_and_they_agree():
    out = run_script(
        "roi_align_speed.py", "--data", "random", "--steps", "1", "--repeats", "1", "--batch", "2"
    )
    levels = re.findall(r"^(p\d)\s+\d+x\d+\s+\d+\s+(?:[\d.]+\s+){2}[\d.]+x\s+(?:[\d.]+\s+){2}"
                        r"[\d.]+x\s+([\d.e+-]+)$", out, re.M)  # fmt: skip
    assert levels, out
    assert all(float(diff) < 1e-4 for _, diff in levels)  # the same RoIAlign, to float rounding
    assert re.search(r"^all\s+(?:[\d.]+\s+){2}[\d.]+x", out, re.M)


@pytest.mark.slow  # 21 s: the command line twice in fresh processes; CI runs the smoke study too
def test_main_job_smoke_prints_every_stage_and_the_rerun(tmp_path):
    out = run_script("main_job.py", "--smoke", "--keep", str(tmp_path / "job"))
    stages = ("generating the synthetic dataset", "run ratio 1.0 seed 0", "table", "total")
    for stage in (*stages, "re-run"):  # a row per stage, its seconds last
        assert re.search(rf"^{re.escape(stage)}\b.*\s\d+\.\d$", out, re.M), out
    assert (tmp_path / "job").is_dir()


@pytest.mark.slow
def test_gpu_check_dry_run_starts_every_step_on_the_cpu():
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable},
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("\n== ") == 6 and done.stdout.count("\n-- ") == 6
    assert "no CUDA device (dry run on the CPU)" in done.stdout


@pytest.mark.slow  # 13 fresh interpreters (the imports: tests/bench/test_cli_startup.py)
def test_cli_startup_prints_every_help_beside_the_torch_import():
    out = run_script("cli_startup.py", "--repeat", "1")
    rows = dict(re.findall(r"^(\S.*?)\s+([\d.]+)\s+[\d.]+$", out, re.M))
    assert "import torch, torchvision" in rows and "bench --help" in rows
    assert len(rows) == 13 and all(float(v) > 0 for v in rows.values())


def test_architecture_draws_the_map_and_its_rules_hold(tmp_path):
    out = run_script("architecture.py", "--out", str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 10_000
    assert "bench.runs" in out and "scac.engine" in out and "rules hold" in out
