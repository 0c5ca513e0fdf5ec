"""One run of the main job on each numerics path and thread policy: wall time and mAP, side by side.

What it times is ``bench train synth --set model.context_ratio=5.0`` (the main job's best arm,
seed 0) from a warm cache (dataset and the path's pretrained weights made first, untimed) and a
new store (so each includes its frozen-feature cache fill), as a fresh process, on:

* ``native``, 2 threads per run: the machine's own kernels (AVX-512 here);
* ``pinned``, 2 threads per run: AVX2 kernels, MKL on its vendor-neutral branch, linear layers
  on oneDNN (``scac.numerics``, ``scac.models.dense``);
* ``pinned``, 1 thread per run;
* two ``pinned`` 1-thread runs side by side (seeds 0 and 1), as a study runs them with
  ``--workers 2``: the time for both, and per run.

Repeated ``--repeats`` times, interleaved, so the machine's drift touches every row alike; the
table gives each row's minimum and median. A row's mAP is the same in every repeat (it is checked).

    python benchmarks/numerics_paths.py                # ~8 minutes on a 2-core CPU
    python benchmarks/numerics_paths.py --repeats 1
    python benchmarks/numerics_paths.py --smoke        # the smoke recipe: seconds
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = re.compile(r"finished in [\d.]+ s, mAP ([\d.]+)")

# (row, numerics mode, threads per run, seeds run side by side)
ROWS = (
    ("native, 2 threads", "native", 2, (0,)),
    ("pinned, 2 threads", "pinned", 2, (0,)),
    ("pinned, 1 thread", "pinned", 1, (0,)),
    ("2 x pinned, 1 thread, side by side", "pinned", 1, (0, 1)),
)


def command(mode: str, threads: int, seed: int, store: Path, smoke: bool) -> list[str]:
    sets = ["model.context_ratio=5.0", f"train.cpu_threads={threads}", f"seed={seed}"]
    if smoke:  # the recipe's [smoke] layer, as `bench run study --smoke` would apply it
        sets += ["data.synth.train=24", "data.synth.val=16", "model.weights=none"]
        sets += ["model.detector_weights=none", "train.phases.0.epochs=1"]
    cmd = [sys.executable, "-m", "bench.cli.main", "train", "synth", "--store", str(store)]
    return cmd + ["--numerics", mode] + [a for s in sets for a in ("--set", s)]


def run_row(mode: str, threads: int, seeds: tuple[int, ...], folder: Path, env, smoke: bool):
    """(wall seconds for the row, mAP of each seed's run)."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            command(mode, threads, seed, Path(tempfile.mkdtemp(dir=folder)) / "s.sqlite", smoke),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in seeds
    ]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - start
    values = []
    for p, out in zip(procs, outputs, strict=True):
        if p.returncode != 0 or not (m := MAP.search(out)):
            sys.exit(f"{mode}, {threads} thread(s) failed:\n{out[-3000:]}")
        values.append(float(m[1]))
    return seconds, values


def warm(env, smoke: bool, folder: Path) -> None:
    """Make the dataset and each path's pretrained weights, untimed: one tiny run per mode."""
    for mode in ("native", "pinned"):
        cmd = command(mode, 2, 0, folder / f"warm-{mode}.sqlite", smoke)
        cmd += ["--set", "train.phases.0.epochs=0", "--set", "train.phases.1.epochs=0"]
        subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="tiny data and no pretraining")
    ap.add_argument("--cache", default=None, help="dataset + weights cache (default: a new one)")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from scac import numerics

    folder = Path(tempfile.mkdtemp(prefix="numerics-paths-"))
    cache = Path(args.cache) if args.cache else folder / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("BENCH_STORE", "BENCH_ARTIFACTS")}
    env.update(SCAC_CACHE=str(cache), PYTHONUNBUFFERED="1")
    cpu = numerics.cpu()
    print(
        f"{cpu.model} ({cpu.vendor}), {os.cpu_count()} cores, flags {'+'.join(cpu.flags)}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}; bench train synth --set model.context_ratio=5.0"
        f"{' (smoke)' if args.smoke else ''}, warm cache, new store per run"
    )
    warm(env, args.smoke, folder)
    times: dict[str, list[float]] = {name: [] for name, *_ in ROWS}
    maps: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, mode, threads, seeds in ROWS:
            seconds, values = run_row(mode, threads, seeds, folder, env, args.smoke)
            times[name].append(seconds)
            if maps.setdefault(name, values) != values:
                sys.exit(f"{name}: mAP {values} in one repeat, {maps[name]} in another")
    base = min(times[ROWS[0][0]])
    print(f"\n{'numerics, threads per run':<38}{'min s':>8}{'median s':>10}{'s/run':>8}"
          f"{'vs native':>11}  mAP")  # fmt: skip
    for name, _, _, seeds in ROWS:
        best = min(times[name])
        per_run = best / len(seeds)
        print(
            f"{name:<38}{best:>8.1f}{statistics.median(times[name]):>10.1f}{per_run:>8.1f}"
            f"{base / per_run:>10.2f}x  {', '.join(f'{v:.1f}' for v in maps[name])}"
        )


if __name__ == "__main__":
    main()
