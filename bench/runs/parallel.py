"""How many workers a study runs on, where their queue lives, which GPU each takes.

Plain decisions, kept apart from the queue (:mod:`bench.runs.queue`, Optuna) and the workers
(:mod:`bench.runs.workers`), so a command that finds every run finished loads neither.
"""

from __future__ import annotations

import os

from bench.runs.plan import Plan
from bench.store import Store
from scac import numerics as paths


def default_storage(store_url: str | None) -> str:
    """The journal file beside the results store (``optuna-journal.log``)."""
    return str(Store.artifacts_root_for(store_url).parent / "optuna-journal.log")


def auto_workers(plan: Plan, store: Store, device: str) -> int:
    """How many worker processes run a study's unfinished runs side by side by default.

    On a CPU, one per ``train.cpu_threads`` cores this process may use: every run computes with
    its own fixed thread count, so its numbers are the same whatever runs beside it (two 1-thread
    runs side by side did 1.41x the work of one 2-thread run on a 2-core CPU,
    ``benchmarks/numerics_paths.py``). On GPUs, one per visible GPU. Never more than the runs
    left, and one (this process) for a smoke study, whose runs take less than a worker's start.
    """
    left = [s for s in plan.distinct if store.status(s.key) != "finished"]
    if plan.smoke or len(left) < 2:
        return 1
    if paths.device_kind(device) == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        per_run = max(s.config.train.cpu_threads for s in left)
        return max(1, min(len(left), (cores or 1) // per_run))
    return max(1, min(len(left), len(visible_gpus())))


def visible_gpus() -> list[str]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES``, else every one torch sees)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [g for g in visible.split(",") if g]
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA at all
        n = 0
    return [str(i) for i in range(n)]


def gpu_assignments(count: int) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each of ``count`` local workers, round-robin over the GPUs."""
    gpus = visible_gpus()
    return [gpus[i % len(gpus)] if gpus else None for i in range(count)]
