"""Points a run announces on its way, for a listener named in the environment.

A run announces ``claimed`` (claimed, before it trains) and ``epoch`` (after each epoch's
checkpoint is written). ``BENCH_RUN_HOOK=module:function`` names a function called as
``function(point, run_key)`` at each, in every process that trains runs (imported once);
unset, an announcement costs nothing. The tests listen to stop a run at a known point, so that
a signal lands mid-run and never by a race (``tests/bench/holds.py``); the run layer knows
nothing of what a listener does.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from functools import cache

ENV = "BENCH_RUN_HOOK"


@cache
def _listener(spec: str) -> Callable[[str, str], None]:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise RuntimeError(f"{ENV}={spec!r} names no importable function: {err}") from None


def listening() -> bool:
    """Whether a listener is named (the epoch announcements are wired only then)."""
    return bool(os.environ.get(ENV))


def announce(point: str, run_key: str) -> None:
    """Tell the listener, if any, that run ``run_key`` reached ``point``."""
    spec = os.environ.get(ENV)
    if spec:
        _listener(spec)(point, run_key)
