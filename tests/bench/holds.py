"""Stopping runs at a point the run layer announces, so tests signal them without racing.

The run layer announces points (``claimed``, before a run trains; ``epoch``, after each
epoch's checkpoint) to the listener ``BENCH_RUN_HOOK`` names (:mod:`bench.runs.points`). A
:class:`Hold` names :func:`at_point` and a folder (``BENCH_TEST_HOLD=DIR``): every run that
reaches the folder's point (``DIR/at``) takes an arrival number ``i`` (the file
``DIR/arrival-i`` holds ``"PID RUN_KEY"``); the first ``free`` arrivals go on, the others wait
until ``DIR/release`` exists. The hold lives here, in the tests, not in the run layer.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def at_point(point: str, run_key: str) -> None:
    """The listener: hold the run at ``BENCH_TEST_HOLD``'s point (see the module docstring)."""
    root = Path(os.environ["BENCH_TEST_HOLD"])
    at = (root / "at").read_text().strip() if (root / "at").is_file() else "claimed"
    if at != point:
        return
    note = root / f".note-{os.getpid()}-{run_key}"
    note.write_text(f"{os.getpid()} {run_key}")
    index = 0
    while True:
        try:  # a hard link appears whole or not at all, and only once per name
            os.link(note, root / f"arrival-{index}")
            break
        except FileExistsError:
            index += 1
    note.unlink()
    free = int((root / "free").read_text()) if (root / "free").is_file() else 0
    while index >= free and not (root / "release").exists():
        time.sleep(0.05)


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
        """The environment of a command whose runs this hold stops (the repository on the
        path, so the command's process can import the listener)."""
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {
            "BENCH_TEST_HOLD": str(self.folder),
            "BENCH_RUN_HOOK": "tests.bench.holds:at_point",
            "PYTHONPATH": path,
        }

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
