"""The numbers' dependencies below the config, as this process has them: recorded with every run.

:mod:`scac.numerics` chooses the kernels before torch loads (the pinned path by default) and
names them in every run key. Here, with torch loaded: the run's fixed intra-op thread count
(:func:`cpu_threads`, from ``train.cpu_threads``) and what :func:`numerics` records with each
run (CPU, instruction set, threads, library versions, the path's name), so two runs that differ
can be told apart (``bench results diff``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from functools import cache

import torch

from scac import numerics as paths

# environment variables that change which kernels run, or how many threads they use
NUMERICS_ENV = (*paths.KERNEL_ENV, "OMP_NUM_THREADS", "MKL_NUM_THREADS", paths.ENV)


@contextlib.contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@cache
def _libraries() -> dict[str, str]:
    """torch's version and the oneDNN, MKL and OpenMP it was built with."""
    config = torch.__config__.show()
    found = {
        "onednn": re.search(r"MKL-DNN (v[\d.]+)", config),
        "mkl": re.search(r"Math Kernel Library Version ([\d.]+)", config),
        "openmp": re.search(r"OpenMP (\d+)", config),
    }
    return {"torch": torch.__version__, **{k: m.group(1) for k, m in found.items() if m}}


def numerics(device: torch.device | None = None) -> dict[str, object]:
    """What this process's numbers depend on below the config: CPU, kernels, threads, libraries.

    Args:
        device: the run's device; a CUDA device adds the GPU's name and CUDA/cuDNN versions.
    """
    facts = paths.cpu()
    out: dict[str, object] = {
        "path": paths.identity(device.type if device is not None else "cpu"),
        "cpu": facts.model,
        "vendor": facts.vendor,
        "arch": facts.arch,
        "cpu_flags": list(facts.flags),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        **_libraries(),
        "env": {k: os.environ[k] for k in NUMERICS_ENV if k in os.environ},
    }
    if device is not None and device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        out["cuda"] = torch.version.cuda
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out
