"""Several processes, one run: torch.distributed set up from ``torchrun``'s environment.

``torchrun --nproc-per-node N`` starts N processes with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` set; :func:`init_distributed` joins them (NCCL on GPUs, gloo on the CPU) and
pins each process to its GPU. Training shards every epoch with ``DistributedSampler`` and
averages gradients with ``DistributedDataParallel``; prediction shards the evaluation split and
gathers the scores on every rank; only rank 0 writes checkpoints, artifacts and the store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistContext | None:
    """Join the process group when started by torchrun (even as its only process, which then
    trains through DDP and NCCL like a larger job), else None.

    Args:
        device: the device type the run uses (CUDA: NCCL and one GPU per local rank; CPU: gloo).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and "TORCHELASTIC_RUN_ID" not in os.environ:
        return None
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(local)
    return DistContext(
        rank=torch_dist.get_rank(), world_size=torch_dist.get_world_size(), local_rank=local
    )


def local_device(device: torch.device, dist: DistContext | None) -> torch.device:
    """This process's device: its own GPU under torchrun."""
    if dist is not None and device.type == "cuda":
        return torch.device("cuda", dist.local_rank)
    return device


def all_finite(value: torch.Tensor, dist: DistContext | None) -> bool:
    """Whether the loss is finite on every rank (so one rank's NaN stops all, never hangs them)."""
    ok = torch.tensor(1.0 if bool(torch.isfinite(value)) else 0.0, device=value.device)
    if dist is not None:
        torch_dist.all_reduce(ok, op=torch_dist.ReduceOp.MIN)
    return bool(ok.item() > 0)


def barrier(dist: DistContext | None) -> None:
    """Wait for every rank (no-op in one process)."""
    if dist is not None:
        torch_dist.barrier()


def broadcast_object(obj, dist: DistContext | None):
    """Rank 0's ``obj`` on every rank."""
    if dist is None:
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, dist: DistContext | None) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if dist is None:
        return [obj]
    out = [None] * dist.world_size
    torch_dist.all_gather_object(out, obj)
    return out
