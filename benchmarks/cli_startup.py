"""How long the command line takes to answer ``--help``: ``bench --help`` and one help of every
command group, best and median of N fresh processes each, printed side by side with what a bare
``import torch, torchvision`` costs on the same machine (the floor the command line used to pay).

    python benchmarks/cli_startup.py            # best of 5
    python benchmarks/cli_startup.py --repeat 9
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HELPS = [
    [],
    ["run", "study"],
    ["train"],
    ["worker"],
    ["sweep", "run"],
    ["results", "show"],
    ["table"],
    ["plot", "curves"],
    ["audit"],
    ["eval"],
    ["data", "synth"],
    ["model", "summary"],
]


def seconds(cmd: list[str], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` fresh runs of ``cmd`` (output discarded; a failure raises)."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per command")
    args = parser.parse_args()
    bench = shutil.which("bench") or str(Path(sys.executable).parent / "bench")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"best and median of {args.repeat} fresh processes")  # fmt: skip
    print(f"{'command':<34} {'best s':>7} {'median s':>9}")
    rows = [(["python", "-c", "import torch, torchvision"], "import torch, torchvision")]
    rows += [([bench, *h, "--help"], " ".join(["bench", *h, "--help"])) for h in HELPS]
    for cmd, label in rows:
        if cmd[0] == "python":
            cmd = [sys.executable, *cmd[1:]]
        times = seconds(cmd, args.repeat)
        print(f"{label:<34} {min(times):>7.3f} {statistics.median(times):>9.3f}")


if __name__ == "__main__":
    main()
