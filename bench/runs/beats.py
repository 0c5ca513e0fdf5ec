"""One heartbeat for the run layer: a daemon thread that calls ``beat`` every ``interval``
seconds while a block runs (the store's claim of a run, and an Optuna trial's liveness in an
RDB storage both beat through it). A beat that returns False stops it; the thread beats only
while the process runs, so a stale heartbeat means a dead or stopped process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def beating(
    beat: Callable[[], bool | None], interval: float, *, name: str, now: bool = False
) -> Iterator[None]:
    """Call ``beat()`` every ``interval`` seconds (first at once with ``now``) until the block
    exits or a beat returns False; the thread is joined (5 s at most) on the way out."""
    stop = threading.Event()

    def run() -> None:
        if now and beat() is False:
            return
        while not stop.wait(interval):
            if beat() is False:
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
