"""Golden values: the pinned numbers of small fixed-seed runs of every model family.

When this fails after a deliberate change of what a config computes, bump
``scac.RESULTS_VERSION`` (so that old run keys never name the new numbers) and rewrite the
values with ``python -m tests.golden --write`` (on the default numerics path, as the test runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from scac import numerics
from tests.golden import GOLDEN, ROOT


@pytest.mark.skipif(
    not numerics.pinnable(), reason="the values are pinned on the x86-64 AVX2 numerics path"
)
def test_golden_values_have_not_moved(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (numerics.ENV, *numerics.KERNEL_ENV)}
    env["SCAC_CACHE"] = str(tmp_path / "cache")
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
        "--write`"
    )
