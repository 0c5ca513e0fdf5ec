"""Golden values: the pinned numbers of small fixed-seed runs of every model family.

When this fails after a deliberate change of what a config computes, bump
``scac.RESULTS_VERSION`` (so that old run keys never name the new numbers) and rewrite the
values with ``python -m tests.golden --write`` (in the pinned environment the test uses).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from tests.golden import GOLDEN, PINNED_ENV, ROOT


def _has_avx2() -> bool:
    try:
        return " avx2 " in open("/proc/cpuinfo").read().replace("\n", " ")
    except OSError:
        return False


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not _has_avx2(),
    reason="the values are pinned on the x86-64 AVX2 instruction-set path",
)
def test_golden_values_have_not_moved(tmp_path):
    env = {**os.environ, **PINNED_ENV, "SCAC_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.golden"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    now, pinned = json.loads(done.stdout), json.loads(GOLDEN.read_text())
    moved = {
        f"{run}.{key}": (pinned[run][key], now.get(run, {}).get(key))
        for run in pinned
        for key in pinned[run]
        if now.get(run, {}).get(key) != pinned[run][key]
    }
    assert not moved, (
        f"the numbers of a fixed config moved (pinned, now): {moved}. If the change is meant, "
        "bump scac.RESULTS_VERSION and rewrite tests/golden.json with `python -m tests.golden "
        "--write` under the environment in tests/golden.py"
    )
