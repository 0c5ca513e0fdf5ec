"""Workers and the coordinator of a study spread over processes, GPUs and hosts.

``bench run study NAME --workers K`` enqueues the study's unfinished runs (by run key) in an
Optuna storage and starts K ``bench worker`` processes on this host, one GPU each when there are
GPUs; ``bench worker --storage URL`` on other hosts joins the same queue. Every worker claims runs
until none waits and none is in flight, and writes each into the shared results store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from optuna.trial import TrialState

from bench.progress import Reporter, describe
from bench.queue import RunQueue, open_storage, queue_name, study_queues
from bench.runner import execute, git_commit, link_runs
from bench.store import Store
from bench.studies import RunSpec, Study
from scac.cache import default_cache_dir
from scac.config import from_dict, to_dict


@dataclass
class WorkerReport:
    """What one worker did."""

    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def enqueue_study(
    study: Study,
    store: Store,
    storage_url: str,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict | None = None,
) -> tuple[str, int, int]:
    """Link every run of ``study`` in the store and enqueue the unfinished ones.

    Returns:
        (queue name, runs in the study, runs enqueued now).
    """
    runs = link_runs(study, store, smoke=smoke, seeds=seeds, overrides=overrides)
    jobs = []
    for spec, key in runs:
        if store.status(key) != "finished":
            jobs.append(
                {
                    "run_key": key,
                    "study": study.name,
                    "arm": spec.arm,
                    "seed": spec.seed,
                    "smoke": smoke,
                    "config": to_dict(spec.config),
                }
            )
    name = queue_name(study.name, smoke)
    added = RunQueue(open_storage(storage_url), name).enqueue(jobs)
    return name, len(runs), added


def work(
    storage_url: str,
    store: Store,
    *,
    queue: str | None = None,
    device: str = "auto",
    num_workers: int = 0,
    wait: bool = True,
    poll: float = 2.0,
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
    feature_cache: bool = True,
) -> WorkerReport:
    """Claim and run queued runs until none waits (and, with ``wait``, none is in flight).

    Args:
        storage_url: the Optuna storage holding the queues.
        store: the results store the runs are written to.
        queue: one queue name (``bench-study:NAME``); default every study queue in the storage.
        device: ``auto``, ``cpu``, ``cuda``... (``CUDA_VISIBLE_DEVICES`` chooses among GPUs).
        num_workers: DataLoader workers.
        wait: keep polling while other workers' runs are in flight, to retry any whose worker dies.
        poll: seconds between polls.
        cache_dir: datasets and pretrained weights.
        reporter: progress display.
        feature_cache: train frozen phases from cached features.
    """
    storage = open_storage(storage_url)
    reporter = reporter or Reporter(live=False)
    report = WorkerReport()
    commit = git_commit()
    while True:
        queues = [RunQueue(storage, n) for n in ([queue] if queue else study_queues(storage))]
        claimed = next(((q, job) for q in queues if (job := q.claim()) is not None), None)
        if claimed is None:
            in_flight = sum(
                q.counts().get("RUNNING", 0) + q.counts().get("WAITING", 0) for q in queues
            )
            if wait and in_flight:
                time.sleep(poll)
                continue
            return report
        q, job = claimed
        a = job.attrs
        spec = RunSpec(
            a["study"], a["arm"], int(a["seed"]), from_dict(a["config"]), bool(a["smoke"])
        )
        key = a["run_key"]
        if store.status(key) == "finished":  # finished meanwhile (e.g. by a sequential run)
            q.finish(job, (store.get(key).metrics or {}).get("mAP"))
            continue
        try:
            with q.heartbeat(job):
                outcome = execute(
                    spec,
                    key,
                    store,
                    cache_dir=cache_dir or default_cache_dir(),
                    device=device,
                    reporter=reporter,
                    commit=commit,
                    num_workers=num_workers,
                    feature_cache=feature_cache,
                )
        except KeyboardInterrupt:
            q.requeue(job)
            raise
        ok = outcome.status == "finished"
        q.finish(job, outcome.metrics.get("mAP"), TrialState.COMPLETE if ok else TrialState.FAIL)
        (report.finished if ok else report.failed).append(key)
        reporter.line(f"worker {os.getpid()}: {describe(outcome)}")


def gpu_assignments(count: int) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``count`` local workers, round-robin over the GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA at all
        n = 0
    gpus = [g for g in visible.split(",") if g] if visible else [str(i) for i in range(n)]
    return [gpus[i % len(gpus)] if gpus else None for i in range(count)]


def run_with_workers(
    study: Study,
    store: Store,
    storage_url: str,
    count: int,
    *,
    smoke: bool = False,
    seeds: tuple[int, ...] | None = None,
    overrides: dict | None = None,
    device: str = "auto",
    reporter: Reporter | None = None,
    feature_cache: bool = True,
) -> int:
    """Enqueue a study and work through it with ``count`` local worker processes.

    Returns:
        The number of workers that exited with an error.
    """
    reporter = reporter or Reporter(live=False)
    name, total, added = enqueue_study(
        study, store, storage_url, smoke=smoke, seeds=seeds, overrides=overrides
    )
    reporter.line(
        f"study {study.name}: {total} runs, {added} enqueued in {name}; starting {count} workers"
    )
    procs = []
    # on CPUs, split the cores between the workers rather than have each use them all
    threads = str(max(1, (os.cpu_count() or 1) // count))
    for gpu in gpu_assignments(count):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        else:
            env.setdefault("OMP_NUM_THREADS", threads)
        cmd = [
            sys.executable,
            "-m",
            "bench.cli.main",
            "worker",
            "--storage",
            storage_url,
            "--queue",
            name,
            "--store",
            store.url,
            "--device",
            device,
            *([] if feature_cache else ["--no-cache"]),
        ]
        procs.append(subprocess.Popen(cmd, env=env))
    try:
        return sum(p.wait() != 0 for p in procs)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        raise
