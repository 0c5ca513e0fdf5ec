"""Do the golden values hold on other CPUs? Replays them as other vendors and cache sizes would.

Floating-point results depend on the kernels a library picks, and MKL and oneDNN pick from what
the CPU's ``cpuid`` instruction says: its instruction sets, its vendor (MKL takes other branches
on AMD than on Intel) and its cache sizes (oneDNN's blocking). This script compiles
``cpuid_trap.c`` (gcc) and computes ``python -m tests.golden`` (the pretraining, a tiny run of
every model family, the main job's smoke study) several times on this machine: as it is, and
with ``cpuid`` answered as another vendor and other cache sizes (the instruction sets stay this
CPU's). A numerics path that holds across CPUs gives one column of identical values.

    python benchmarks/portability.py                 # the default (pinned) path, 5 CPUs
    python benchmarks/portability.py --mode native   # the machine's own kernels
    python benchmarks/portability.py --old-pin       # results version 3's pin: MKL_CBWR=AVX2

It needs Linux's CPUID faulting (``arch_prctl(ARCH_SET_CPUID)``: Intel CPUs since Ivy Bridge,
KVM guests): where it is missing, the script says so and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, cpuid_trap environment): vendor, then L1d, L2, L3 in KiB
CPUS = (
    ("this CPU", None),
    ("as Intel, 48K/2M/105M", {"CPUID_VENDOR": "intel", "CPUID_CACHE": "48,2048,107520"}),
    ("as Intel, 32K/1M/36M", {"CPUID_VENDOR": "intel", "CPUID_CACHE": "32,1024,36608"}),
    ("as Intel, 32K/256K/8M", {"CPUID_VENDOR": "intel", "CPUID_CACHE": "32,256,8192"}),
    ("own vendor, 32K/512K/16M", {"CPUID_CACHE": "32,512,16384"}),
)


def build_trap(folder: Path) -> Path:
    lib = folder / "cpuid_trap.so"
    cmd = [
        "gcc",
        "-O2",
        "-shared",
        "-fPIC",
        "-o",
        str(lib),
        str(ROOT / "benchmarks" / "cpuid_trap.c"),
    ]
    subprocess.run(cmd, check=True)
    return lib


def golden(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.golden"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode == 97:
        sys.exit(
            "this machine has no CPUID faulting (arch_prctl ARCH_SET_CPUID): nothing to replay"
        )
    if done.returncode != 0:
        sys.exit(f"python -m tests.golden failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def flat(values: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="pinned", help="numerics mode (SCAC_NUMERICS)")
    ap.add_argument(
        "--old-pin",
        action="store_true",
        help="results version 3's pin: AVX2 kernels with MKL_CBWR=AVX2 (set as native settings)",
    )
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from scac import numerics

    folder = Path(tempfile.mkdtemp(prefix="portability-"))
    trap = build_trap(folder)
    cpu = numerics.cpu()
    print(
        f"{cpu.model} ({cpu.vendor}), flags {'+'.join(cpu.flags)}; "
        f"{'the old pin' if args.old_pin else f'mode {args.mode}'}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    base = {k: v for k, v in os.environ.items() if k not in (numerics.ENV, *numerics.KERNEL_ENV)}
    base.update(SCAC_NUMERICS=args.mode, SCAC_CACHE=str(folder / "cache"))
    base.pop("PYTHONFAULTHANDLER", None)  # its SIGSEGV handler would take the trap's faults
    if args.old_pin:  # native mode keeps kernel settings made before scac loads
        base.update(
            SCAC_NUMERICS="native", ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2",
            MKL_CBWR="AVX2",
        )  # fmt: skip
    columns = {}
    for name, trapped in CPUS:
        env = dict(base)
        if trapped is not None:
            env.update(trapped, LD_PRELOAD=str(trap))
        start = time.perf_counter()
        columns[name] = flat(golden(env))
        print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)
    keys = sorted(columns[CPUS[0][0]])
    differ = [k for k in keys if len({json.dumps(c.get(k)) for c in columns.values()}) > 1]
    shown = [k for k in keys if k.endswith(("digest", "mAP", "final_loss", "run_key"))]
    width = max(len(k) for k in shown)
    print(f"\n{'value':<{width}}  " + "  ".join(f"{n:>24}" for n in columns))
    for k in shown:
        cells = [str(c.get(k))[:24] for c in columns.values()]
        print(f"{k:<{width}}  " + "  ".join(f"{v:>24}" for v in cells))
    print(
        f"\n{len(keys) - len(differ)} of {len(keys)} values equal on all {len(columns)} CPUs"
        + (f"; differing: {', '.join(differ)}" if differ else "")
    )


if __name__ == "__main__":
    main()
