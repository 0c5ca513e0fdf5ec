"""Who runs a run: a process on a host, and whether it still lives.

A run is claimed in the store by one process (:class:`Owner`: host, pid, the process's start
time, a random token). Another process may take the run over only when that owner is dead:

* on the same host, when its pid is gone, is a zombie (exited, not yet reaped by its parent) or
  now belongs to another process (the start time differs: the pid was reused), or when its
  heartbeat is older than the grace period although its pid lives: the heartbeat thread beats
  whenever the process runs at all, so a silent one is stopped (``SIGSTOP``, a debugger) or
  hung, and would otherwise block the run for good;
* on another host, when its heartbeat is older than the grace period (the store's
  ``heartbeat_at``, written every ``BENCH_HEARTBEAT_INTERVAL`` seconds while the run trains).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime

HEARTBEAT_INTERVAL = float(os.environ.get("BENCH_HEARTBEAT_INTERVAL", "30"))
HEARTBEAT_GRACE = float(os.environ.get("BENCH_HEARTBEAT_GRACE", "120"))


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None (no such file)."""
    try:
        text = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 - one short read
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses


def process_started(pid: int) -> float | None:
    """When ``pid`` started (clock ticks since boot), or None where ``/proc`` is absent."""
    fields = _stat(pid)
    return float(fields[19]) if fields else None  # field 22 of stat, 20th after the name


def pid_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` on this host lives (a zombie does not; a reused pid does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc (macOS): the signal is all we can tell
    if fields[0] in ("Z", "X"):
        return False
    return started is None or float(fields[19]) == started


@dataclass(frozen=True)
class Owner:
    """A process that holds (or held) a run.

    Attributes:
        host: its host name.
        pid: its process id.
        started: its start time, to tell a reused pid from the owner (None where unknown).
        token: random, unique per claim: only the holder of the token records the outcome.
    """

    host: str
    pid: int
    started: float | None
    token: str

    @classmethod
    def this_process(cls) -> Owner:
        """This process, with a fresh token."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_started(pid), uuid.uuid4().hex)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def owner_alive(
    host: str | None,
    pid: int | None,
    started: float | None,
    heartbeat_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether a run's recorded owner still holds it (see the module docstring)."""
    if host is None or pid is None:
        return False  # an old record without an owner: nobody can be waiting on it
    fresh = None
    if heartbeat_at is not None:
        if heartbeat_at.tzinfo is None:  # SQLite hands back naive datetimes (stored in UTC)
            heartbeat_at = heartbeat_at.replace(tzinfo=now.tzinfo)
        fresh = (now - heartbeat_at).total_seconds() < HEARTBEAT_GRACE
    if host == socket.gethostname():
        return pid_alive(pid, started) and fresh is not False
    return bool(fresh)
