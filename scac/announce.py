"""How one-time work (a dataset generated, a pretraining) is shown while it runs.

An *announce* function takes what is being done and returns a context manager around the work;
the context yields the function the work tells its progress to, ``(steps done, steps in all,
figure)`` (a loss), or None when nothing is shown. :func:`quiet`, the default everywhere,
shows nothing; the toolkit's reporter (``bench.runs.progress.Reporter.stage``) draws a bar or writes
plain lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

Progress = Callable[[int, int, float], None]
Announce = Callable[[str], AbstractContextManager["Progress | None"]]


@contextlib.contextmanager
def quiet(what: str) -> Iterator[Progress | None]:  # noqa: ARG001 - the announce signature
    """Show nothing; the work gets no progress function."""
    yield None
