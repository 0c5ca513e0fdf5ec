"""Runs shared by many workers through Optuna's storage: no scheduler of our own.

A study's runs are enqueued as Optuna trials (state WAITING, the run spec in the trial's user
attributes) in an Optuna study named ``bench-study:NAME``. A worker claims a trial with the same
atomic WAITING -> RUNNING transition Optuna uses for its own enqueued trials
(``BaseStorage.set_trial_state_values``), so two workers never take the same run. Storage:

* a journal file (``JournalFileBackend``) on one host: the default, beside the results store;
* PostgreSQL (any RDB URL) across hosts, with Optuna's heartbeat: a trial whose worker stopped
  beating for the grace period is failed and re-enqueued by Optuna's retry callback.

On every host, a RUNNING trial whose worker process is gone (same host; a dead pid, a zombie or
a reused pid) is failed and re-enqueued at once. Either way the re-enqueued run has the same run
key and is claimed in the results store before it trains (``bench.runs.claimed``), so the store
keeps one record, its ``attempts`` counting the tries: never lost, never done twice.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from bench.runs.beats import beating
from bench.runs.parallel import default_storage  # noqa: F401 - this module's API too
from bench.store import StoreError, masked_url
from bench.store.owner import HEARTBEAT_GRACE, HEARTBEAT_INTERVAL, pid_alive, process_started

optuna.logging.set_verbosity(optuna.logging.WARNING)
# heartbeats are "experimental" in Optuna since 2.9; we rely on them knowingly
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, module="bench")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, module="optuna")

# Optuna 4.9 renamed the retry callback (and the RDB storage's argument for it)
_NEW_RETRY = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
_STALE_ARG = "heartbeat_stale_trial_callback" if _NEW_RETRY else "failed_trial_callback"
_Retry: Any = _NEW_RETRY or optuna.storages.RetryFailedTrialCallback

PREFIX = "bench-study:"


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage from a URL (``postgresql+psycopg://...``, ``sqlite:///...``) or a path.

    A path (or ``journal:PATH``) is a journal file for workers on one host.

    Raises:
        StoreError: the storage cannot be reached; the message masks the password.
    """
    try:
        if "://" in url:
            return RDBStorage(
                url,
                heartbeat_interval=max(1, int(HEARTBEAT_INTERVAL)),
                grace_period=max(1, int(HEARTBEAT_GRACE)),
                **{_STALE_ARG: _Retry(max_retry=3)},
                engine_kwargs={"pool_pre_ping": True},
            )
        path = Path(url.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except ValueError as err:  # a line of the log that is not JSON: a damaged file
            raise StoreError(
                f"the Optuna journal {path} is damaged ({err}); move it aside (mv {path} "
                f"{path}.damaged) and run the command again: a study queues its unfinished runs "
                "anew, a sweep starts its search anew (every trial's run stays in the results "
                "store)"
            ) from None
    except StoreError:
        raise
    except Exception as err:  # noqa: BLE001 - driver, network, permission: all unreachable
        raise StoreError(f"cannot reach Optuna storage {masked_url(url)}: {err}") from None


def alive(worker: dict) -> bool | None:
    """Whether a worker process (``{"host", "pid", "started"}``) lives: None on another host
    (its heartbeat tells); a zombie or a reused pid is dead."""
    if worker.get("host") != socket.gethostname():
        return None
    return pid_alive(int(worker.get("pid", -1)), worker.get("started"))


@dataclass
class Job:
    """A claimed run."""

    trial_id: int
    number: int
    attrs: dict[str, Any]


class RunQueue:
    """The queue of one study's runs in an Optuna storage.

    Args:
        storage: an opened Optuna storage.
        name: the study's queue name (see :func:`queue_name`).
    """

    def __init__(self, storage: BaseStorage, name: str) -> None:
        self.storage = storage
        self.name = name
        self.study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
        self.study_id = storage.get_study_id_from_name(name)

    def _id(self, trial: optuna.trial.FrozenTrial) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)

    def _trials(
        self, states: tuple[TrialState, ...] | None = None
    ) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def enqueue(self, jobs: list[dict[str, Any]]) -> int:
        """Enqueue runs (dicts with a ``run_key``) not already waiting or running; how many."""
        queued = {
            t.user_attrs.get("run_key")
            for t in self._trials((TrialState.WAITING, TrialState.RUNNING))
        }
        added = 0
        for job in jobs:
            if job["run_key"] not in queued:
                self.study.enqueue_trial({}, user_attrs=job, skip_if_exists=False)
                queued.add(job["run_key"])
                added += 1
        return added

    def reap(self) -> int:
        """Fail and re-enqueue RUNNING trials whose worker died; returns how many."""
        if isinstance(self.storage, RDBStorage):
            optuna.storages.fail_stale_trials(self.study)  # heartbeat-based, any host
        reaped = 0
        for t in self._trials((TrialState.RUNNING,)):
            worker = t.user_attrs.get("worker") or {}
            if worker and alive(worker) is False:
                try:
                    if self.storage.set_trial_state_values(self._id(t), TrialState.FAIL):
                        _Retry(max_retry=3)(self.study, self.storage.get_trial(self._id(t)))
                        reaped += 1
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass  # another worker reaped it first
        return reaped

    def claim(self) -> Job | None:
        """Take one waiting run, atomically; None when none waits."""
        self.reap()
        for t in self._trials((TrialState.WAITING,)):
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                if self.storage.set_trial_state_values(self._id(t), TrialState.RUNNING):
                    worker = this_worker()
                    self.storage.set_trial_user_attr(self._id(t), "worker", worker)
                    return Job(self._id(t), t.number, dict(t.user_attrs))
        return None

    def finish(
        self, job: Job, value: float | None, state: TrialState = TrialState.COMPLETE
    ) -> None:
        """Close a claimed run: COMPLETE with its metric, or FAIL."""
        values = [value] if state == TrialState.COMPLETE and value is not None else None
        if state == TrialState.COMPLETE and values is None:
            values = [float("nan")]
        self.storage.set_trial_state_values(job.trial_id, state, values=values)

    def requeue(self, job: Job) -> None:
        """Give an interrupted run back to the queue (failed here, waiting again)."""
        self.storage.set_trial_state_values(job.trial_id, TrialState.FAIL)
        _Retry(max_retry=None)(self.study, self.storage.get_trial(job.trial_id))

    def counts(self) -> dict[str, int]:
        """Trials per state name."""
        out: dict[str, int] = {}
        for t in self._trials():
            out[t.state.name] = out.get(t.state.name, 0) + 1
        return out

    @contextlib.contextmanager
    def heartbeat(self, job: Job) -> Iterator[None]:
        """Beat for ``job`` while the block runs (RDB storages; the journal relies on pids)."""
        storage = self.storage
        if not isinstance(storage, RDBStorage):
            yield
            return
        with beating(
            lambda: storage.record_heartbeat(job.trial_id),
            HEARTBEAT_INTERVAL,
            name=f"trial-heartbeat-{job.trial_id}",
            now=True,
        ):
            yield


def this_worker() -> dict:
    """This process, as a trial's ``worker`` attribute records it."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": process_started(os.getpid()),
    }


def queue_name(study: str, smoke: bool, variant: str = "") -> str:
    """The Optuna study that holds a bench study's (variant's) runs."""
    return f"{PREFIX}{study}{f'[{variant}]' if variant else ''}{':smoke' if smoke else ''}"


def study_queues(storage: BaseStorage) -> list[str]:
    """Names of every bench study queue in ``storage``."""
    return sorted(
        s.study_name
        for s in optuna.get_all_study_summaries(storage)
        if s.study_name.startswith(PREFIX)
    )
