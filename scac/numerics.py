"""The numerics path: which kernels compute a run's numbers, chosen before torch loads.

One config and seed give bit-identical numbers on one machine, but floating-point sums are not
associative, so the kernels that compute them decide their last bits, and training amplifies any
difference to points of mAP (a full synthetic run moved by 2.5-4.5 mAP between an Intel and an
AMD CPU under the same key). Below the config, three things pick the kernels:

* the **instruction-set path**: ATen's vectorised kernels (``ATEN_CPU_CAPABILITY``), oneDNN's
  convolutions (``ONEDNN_MAX_CPU_ISA``) and MKL's matrix products (``MKL_CBWR``) each choose
  one when torch starts. MKL's choice also depends on the CPU's *vendor*: on an AMD CPU it
  ignores ``MKL_CBWR=AVX2`` (its ``MKL_VERBOSE`` says ``CNR:AUTO``) and honours only
  ``COMPATIBLE``, its vendor-neutral branch. That was the whole cross-CPU difference of the
  synthetic pretraining: with the CPU's vendor string answered as Intel's on the AMD machine,
  the AVX2 setting gave the Intel machine's digest; with ``COMPATIBLE`` both give one digest
  (``benchmarks/portability.py`` replays it);
* the **thread count**, which splits the sums differently: fixed per run by
  ``train.cpu_threads``, part of the config;
* the **libraries**: torch and torchvision (with the oneDNN and MKL torch was built with).

Modes (``SCAC_NUMERICS``, or ``--numerics`` on the command line):

* ``pinned`` (default): on an x86-64 CPU with AVX2 and FMA, ATen and oneDNN run their AVX2
  kernels and MKL its ``COMPATIBLE`` branch, on every such CPU, Intel or AMD, so a run key
  gives the same bits everywhere. Elsewhere (ARM, an x86-64 CPU without AVX2) the machine's own
  kernels run, and the key names the CPU.
* ``native``: the machine's own kernels (AVX-512, AMX...), whose numbers hold on this CPU
  model only; the key names the CPU.
* ``deterministic``: ``pinned``, and on a GPU PyTorch's deterministic mode, strict (an
  operation without a deterministic CUDA kernel raises, naming itself).

:func:`identity` is the path's name with the library versions and the torchrun world size: part
of every run key, so a native run never shares a key with a pinned one. It is computed without
importing torch, so planning a study and reading the store stay light.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata

ENV = "SCAC_NUMERICS"
MODES = ("pinned", "native", "deterministic")
DEFAULT_MODE = "pinned"

# what the pinned path sets before torch loads (MKL's COMPATIBLE branch is the one every
# vendor's CPU takes; with a fixed thread count its results are reproducible across CPUs)
PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
}
# environment variables that change which kernels run: a native key names the ones set
KERNEL_ENV = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
)
# CUDA's deterministic mode needs cuBLAS to keep a fixed workspace (PyTorch's reproducibility notes)
DETERMINISTIC_CUDA_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
_PIN_FLAGS = {"avx2", "fma"}
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile")


class NumericsError(ValueError):
    """A numerics mode that is unknown, or that this process can no longer take."""


@dataclass(frozen=True)
class CPU:
    """What the CPU says of itself (``/proc/cpuinfo``).

    Attributes:
        arch: ``x86_64``, ``aarch64``...
        vendor: ``GenuineIntel``, ``AuthenticAMD``... ("" when not said).
        model: the model name.
        flags: the instruction-set flags that decide kernels, of :data:`_ISA_FLAGS`.
    """

    arch: str
    vendor: str
    model: str
    flags: tuple[str, ...]


@cache
def cpu() -> CPU:
    """This machine's CPU, read once."""
    arch = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
    except OSError:
        return CPU(arch, "", platform.processor() or arch, ())

    def field(name: str) -> str:
        found = re.search(rf"^{name}\s*:\s*(.+)$", text, re.M)
        return found.group(1).strip() if found else ""

    have = set(field("flags").split())
    return CPU(
        arch,
        field("vendor_id"),
        field("model name") or arch,
        tuple(f for f in _ISA_FLAGS if f in have),
    )


def pinnable(facts: CPU | None = None) -> bool:
    """Whether the pinned path exists here: an x86-64 CPU with AVX2 and FMA."""
    facts = facts or cpu()
    return facts.arch in ("x86_64", "AMD64") and _PIN_FLAGS <= set(facts.flags)


def mode(requested: str | None = None) -> str:
    """The mode asked for: ``requested``, else ``$SCAC_NUMERICS``, else ``pinned``.

    Raises:
        NumericsError: a mode that is not one of :data:`MODES`.
    """
    chosen = requested or os.environ.get(ENV) or DEFAULT_MODE
    if chosen not in MODES:
        where = "--numerics" if requested else f"${ENV}"
        raise NumericsError(f"{where} must be one of {', '.join(MODES)}, got {chosen!r}")
    return chosen


def pins(chosen: str) -> bool:
    """Whether mode ``chosen`` runs the pinned CPU kernels on this machine."""
    return chosen in ("pinned", "deterministic") and pinnable()


def select(requested: str | None = None) -> str:
    """Set this process up for a mode, before torch loads; returns the mode.

    The mode is written to ``$SCAC_NUMERICS`` too, so processes started from this one (workers,
    torchrun ranks) take the same path. Once torch is loaded its kernels are chosen: a mode
    that would need others raises instead of running on a path that is not the one asked for.

    Raises:
        NumericsError: an unknown mode, or torch already loaded with other kernels.
    """
    chosen = mode(requested)
    if "torch" in sys.modules:
        check(chosen)
    else:
        for name, before in _SET.items():  # undo an earlier choice of this process
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
        _SET.clear()
        for name, value in _env_for(chosen).items():
            _SET[name] = os.environ.get(name)
            os.environ[name] = value
    os.environ[ENV] = chosen
    return chosen


_SET: dict[str, str | None] = {}  # what select() set, with the value it replaced


def _env_for(chosen: str) -> dict[str, str]:
    env = dict(PINNED_ENV) if pins(chosen) else {}
    if chosen == "deterministic":
        env.update(DETERMINISTIC_CUDA_ENV)
    return env


def check(chosen: str | None = None) -> None:
    """Raise unless this process's kernels are the ones mode ``chosen`` asks for.

    ATen fixes its kernels at its first operation, oneDNN at its first convolution and MKL at
    its first call, each from the environment of that moment; a process that imported torch
    before ``scac`` (or changed the environment after) may run others.

    Raises:
        NumericsError: the kernels differ, naming what to do.
    """
    chosen = mode(chosen)
    want = _env_for(chosen)
    wrong = {k: os.environ.get(k) for k, v in want.items() if os.environ.get(k) != v}
    if pins(chosen) and "torch" in sys.modules:
        capability = sys.modules["torch"].backends.cpu.get_cpu_capability()
        if capability != "AVX2":
            wrong["torch's CPU capability"] = capability
    if wrong:
        found = ", ".join(f"{k}={v}" for k, v in wrong.items())
        raise NumericsError(
            f"this process cannot compute on the {chosen!r} numerics path ({found}): torch "
            "chose its kernels before the path was set. Import scac before torch (or start "
            f"the process with {ENV}={chosen}), or ask for {ENV}=native"
        )


def cpu_path(chosen: str | None = None) -> str:
    """The CPU path's name: ``pinned-avx2``, or ``native`` with the CPU and kernel settings."""
    chosen = mode(chosen)
    if pins(chosen):
        return "pinned-avx2"
    facts = cpu()
    settings = ",".join(f"{k}={os.environ[k]}" for k in KERNEL_ENV if k in os.environ)
    return f"native/{facts.arch}/{facts.model}/{'+'.join(facts.flags)}" + (
        f"/{settings}" if settings else ""
    )


def device_kind(device: str = "auto") -> str:
    """``cpu`` or ``cuda`` for a device name; ``auto`` asks torch only where a GPU driver is."""
    if device != "auto":
        return "cuda" if device.startswith("cuda") else device.split(":")[0]
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia/version"):
        return "cpu"  # no NVIDIA driver: no CUDA device, and no need to load torch to know it
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@cache
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def identity(device: str = "auto", chosen: str | None = None) -> str:
    """What a run key holds of the numerics: the path (CPU or CUDA), torch's and torchvision's
    versions, and the world size of a torchrun job (its ranks split every batch).

    Args:
        device: the run's device (``auto``, ``cpu``, ``cuda``, ``cuda:1``...).
        chosen: the mode (default :func:`mode`).
    """
    chosen = mode(chosen)
    kind = device_kind(device)
    if kind == "cpu":
        path = cpu_path(chosen)
    else:  # the CPU's kernels compute no number of a GPU run
        path = f"{kind}-deterministic" if chosen == "deterministic" else kind
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    versions = f"torch {_version('torch')}, torchvision {_version('torchvision')}"
    return f"{path}; {versions}" + (f"; world {world}" if world > 1 else "")
