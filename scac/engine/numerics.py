"""What decides the last bits of a run's numbers on this machine, and the one setting we fix.

The same config and seed give bit-identical numbers on one machine, but floating-point sums are
not associative, so three things below the config change them (measured on the project's 2-core
VM, AVX-512: two threads against one, and AVX-512 against AVX2 kernels, each change a small
network's weights after five SGD steps in the 7th digit, and a full run by a few points of mAP,
since training amplifies any difference):

* the intra-op **thread count**, which splits the sums of convolutions and matrix products
  differently: fixed per run by ``train.cpu_threads`` (:func:`cpu_threads`), so it is part of
  the run key and independent of the machine's cores and of how many workers share them;
* the **instruction-set path** that torch's kernels, oneDNN and MKL pick from the CPU (AVX2,
  AVX-512, AMX...), pinned only by environment variables read when torch starts
  (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, ``MKL_CBWR``);
* the **library versions** (torch, and the oneDNN and MKL it was built with).

The last two are machine facts: :func:`numerics` records them with every run, so two runs of one
key that differ can be told apart (``bench results diff``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Iterator
from functools import cache

import torch

# environment variables that change which kernels run, or how many threads they use
NUMERICS_ENV = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile")


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
def _cpu() -> tuple[str, tuple[str, ...]]:
    """(CPU model name, the instruction-set flags that matter) from ``/proc/cpuinfo``."""
    try:
        text = open("/proc/cpuinfo").read()  # noqa: SIM115 - one short read
    except OSError:
        return platform.processor() or platform.machine(), ()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    have = set(flags.group(1).split()) if flags else set()
    return (model.group(1).strip() if model else platform.machine()), tuple(
        f for f in _FLAGS if f in have
    )


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
    model, flags = _cpu()
    out: dict[str, object] = {
        "cpu": model,
        "arch": platform.machine(),
        "cpu_flags": list(flags),
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
