"""Workers and the coordinator of a study spread over processes, GPUs and hosts.

``bench run study NAME --workers K`` plans the study, enqueues its unfinished runs (by run key)
in an Optuna storage and starts K ``bench worker`` processes on this host, one GPU each when
there are GPUs; ``bench worker --storage URL`` on other hosts joins the same queue. A worker
takes a queued run and hands it to the run layer (:func:`bench.runs.claimed.execute`), which claims
it in the store, so a run is trained once even when a sequential ``bench run study`` works on the
same store. The coordinator reaps each worker as it exits, whichever exits first: a dead worker's
run goes back to the queue at once (its pid is gone) and another worker finishes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from optuna.trial import TrialState

from bench.runs.claimed import RunContext, execute
from bench.runs.execute import record
from bench.runs.parallel import gpu_assignments
from bench.runs.plan import Plan, RunSpec
from bench.runs.queue import RunQueue, open_storage, queue_name, study_queues
from bench.store import Store
from scac import numerics as paths
from scac.config import from_dict, to_dict


@dataclass
class WorkerReport:
    """What one worker did."""

    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def enqueue_plan(plan: Plan, store: Store, storage_url: str) -> tuple[str, int, int]:
    """Record a plan's runs in the store and enqueue the unfinished ones.

    Returns:
        (queue name, runs in the plan, runs enqueued now).
    """
    record(plan, store)
    jobs = [
        {
            "run_key": spec.key,
            "study": spec.study,
            "variant": spec.variant,
            "arm": spec.arm,
            "seed": spec.seed,
            "smoke": spec.smoke,
            "config": to_dict(spec.config),
            "numerics": spec.numerics,
        }
        for spec in plan.distinct
        if store.status(spec.key) != "finished"
    ]
    name = queue_name(plan.study, plan.smoke, plan.variant)
    added = RunQueue(open_storage(storage_url), name).enqueue(jobs)
    return name, len(plan.runs), added


def _spec(attrs: dict) -> RunSpec:
    """The run spec a queued job carries."""
    return RunSpec(
        attrs["study"],
        attrs.get("variant", ""),
        attrs["arm"],
        int(attrs["seed"]),
        bool(attrs["smoke"]),
        from_dict(attrs["config"]),
        attrs["run_key"],
        attrs.get("numerics", ""),
    )


def work(
    storage_url: str,
    store: Store,
    ctx: RunContext,
    *,
    queue: str | None = None,
    wait: bool = True,
) -> WorkerReport:
    """Take and run queued runs until none waits (and, with ``wait``, none is in flight).

    Args:
        storage_url: the Optuna storage holding the queues.
        store: the results store the runs are written to.
        ctx: how to run (device, cache, progress; ``ctx.poll`` seconds between polls).
        queue: one queue name (``bench-study:NAME``); default every study queue in the storage.
        wait: keep polling while other workers' runs are in flight, to retry any whose worker dies.
    """
    storage = open_storage(storage_url)
    report = WorkerReport()
    while True:
        queues = [RunQueue(storage, n) for n in ([queue] if queue else study_queues(storage))]
        claimed = next(((q, job) for q in queues if (job := q.claim()) is not None), None)
        if claimed is None:
            in_flight = sum(
                q.counts().get("RUNNING", 0) + q.counts().get("WAITING", 0) for q in queues
            )
            if wait and in_flight:
                time.sleep(ctx.poll)
                continue
            return report
        q, job = claimed
        spec = _spec(job.attrs)
        here = paths.identity(ctx.device)
        if spec.numerics != here:  # a worker started with another mode or device
            q.requeue(job)
            raise paths.NumericsError(
                f"run {spec.key[:10]} ({spec.label()}) was planned for the numerics path "
                f"{spec.numerics!r}, but this worker computes on {here!r}: start workers with "
                "the --numerics and --device of the study's command; the run is back in the queue"
            )
        try:
            with q.heartbeat(job):
                outcome = execute(spec, store, ctx, wait=True)
        except KeyboardInterrupt:
            q.requeue(job)
            raise
        ok = outcome.ok
        q.finish(job, outcome.metrics.get("mAP"), TrialState.COMPLETE if ok else TrialState.FAIL)
        (report.finished if ok else report.failed).append(spec.key)
        ctx.reporter.line(f"worker {os.getpid()}: {outcome.describe()}")


def run_with_workers(
    plan: Plan, store: Store, storage_url: str, count: int, ctx: RunContext
) -> list[int]:
    """Enqueue a plan and work through it with ``count`` local worker processes.

    Every worker is reaped as soon as it exits, in whatever order they exit, so a killed
    worker never leaves the others waiting on its run (they re-queue it and run it).

    Returns:
        The exit codes of the workers that did not exit cleanly.
    """
    left = [s for s in plan.distinct if store.status(s.key) != "finished"]
    if left:  # data and pretrained weights made once, here, not by every worker at once
        from scac.engine.assets import ensure_assets

        ensure_assets(left[0].config, ctx.cache_dir, announce=ctx.reporter.stage)
    name, total, added = enqueue_plan(plan, store, storage_url)
    ctx.reporter.line(
        f"study {plan.title()}: {total} runs, {added} enqueued in {name}; starting {count} workers"
    )
    procs = []
    for gpu in gpu_assignments(count):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_WORKER_OF": str(os.getpid())}
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        else:  # workers share the cores: idle OpenMP threads sleep instead of spinning
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
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
            ctx.device,
            *([] if ctx.feature_cache else ["--no-cache"]),
            *([] if ctx.tensorboard is None else ["--tensorboard", str(ctx.tensorboard)]),
        ]
        procs.append(subprocess.Popen(cmd, env=env))
    bad = []
    try:
        while procs:
            for p in list(procs):
                code = p.poll()  # reaps an exited worker: no zombie is left to look alive
                if code is None:
                    continue
                procs.remove(p)
                if code != 0:
                    bad.append(code)
                    ctx.reporter.line(
                        f"worker {p.pid} exited with code {code}; "
                        f"{len(procs)} worker(s) go on with the queue"
                    )
            time.sleep(0.2)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        raise
    return bad
