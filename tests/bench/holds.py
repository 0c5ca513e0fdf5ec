"""Stopping runs at a point the run layer announces, so tests signal them without racing.

``BENCH_TEST_HOLD=DIR`` makes every run that reaches a point the run layer announces (``at``:
``claimed``, before it trains, or ``epoch``, after each epoch's checkpoint) take an arrival
number ``i`` (the file ``DIR/arrival-i`` holds ``"PID RUN_KEY"``); the first ``free`` arrivals go
on, the others wait until ``DIR/release`` exists (``bench.runs.claimed._test_hold``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest


class Hold:
    """A hold folder for one test.

    Args:
        folder: the folder (created).
        free: how many arrivals go on before the first that waits.
        at: the point: ``claimed`` or ``epoch``.
    """

    def __init__(self, folder: Path, free: int = 0, at: str = "claimed") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "free").write_text(str(free))
        (self.folder / "at").write_text(at)

    @property
    def env(self) -> dict[str, str]:
        return {"BENCH_TEST_HOLD": str(self.folder)}

    def wait_for(
        self, index: int, *procs: subprocess.Popen, timeout: float = 300
    ) -> tuple[int, str]:
        """(pid, run key) of arrival ``index``, once it has arrived.

        Fails the test, with the output of a process that ended, when any process in ``procs``
        ended first (each is meant to reach a hold), or after ``timeout`` s (a bound against a
        hang, not a timing the test depends on).
        """
        path = self.folder / f"arrival-{index}"
        deadline = time.monotonic() + timeout
        while not path.exists():
            ended = [p for p in procs if p.poll() is not None]
            if ended:
                out = "\n".join(p.stdout.read() if p.stdout else "" for p in ended)
                codes = [p.returncode for p in ended]
                pytest.fail(f"a process ended (exit {codes}) before arrival {index}:\n{out}")
            if time.monotonic() > deadline:
                pytest.fail(f"no arrival {index} in {timeout} s")
            time.sleep(0.05)
        pid, key = path.read_text().split()
        return int(pid), key

    def release(self) -> None:
        """Let every held run go on, and every later one pass."""
        (self.folder / "release").touch()
