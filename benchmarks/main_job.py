"""The main job as a newcomer meets it: ``bench run study context_ratio`` from an empty cache and
store, stage by stage, then again with every run finished.

Runs the command line itself in a fresh process (as the README's first command), with the
synthetic-data and pretrained-weights cache and the results store in a new folder, and reads the
stages from its plain-mode output (one line per stage and per run) and the runs' timings from the
store: dataset generation, each pretraining, the frozen-feature cache fill, every run split into
training, evaluation and the rest (building the model and data, writing artifacts and the
record), the table, the total, and the re-run of the finished study.

    python benchmarks/main_job.py                  # the main job (minutes)
    python benchmarks/main_job.py --smoke          # its smoke form (seconds)
    python benchmarks/main_job.py --keep DIR       # keep the cache and the store in DIR
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGE = re.compile(r"^(.+): done in ([\d.]+) s$")
WORKERS = re.compile(r"starting (\d+) workers")
FILL = re.compile(r"frozen-feature cache filled: (\d+) images in ([\d.]+) s")
# a run's line, from this process ("[3/15] study | arm | seed S | KEY: ...") or from one of the
# workers a study runs with ("worker PID: study | arm | seed S | KEY: ...")
RUN = re.compile(
    r"^(?:\[\d+/\d+\]|worker \d+:) .+ \| (.+) \| seed (\d+) \| ([0-9a-f]{10}): "
    r"finished in ([\d.]+) s"
)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, list[tuple[float, str]]]:
    """(wall seconds, (seconds since start, line) for every output line) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in proc.stdout]
    if proc.wait() != 0:
        sys.exit("the command failed:\n" + "\n".join(text for _, text in lines[-30:]))
    return time.perf_counter() - start, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="context_ratio")
    ap.add_argument("--smoke", action="store_true", help="the study's smoke form")
    ap.add_argument("--keep", default=None, help="folder for the cache and store (kept)")
    args = ap.parse_args()

    from bench.store import Store
    from scac.engine.numerics import numerics

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="main-job-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "store.sqlite"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("BENCH_STORE", "BENCH_ARTIFACTS")},
        "SCAC_CACHE": str(folder / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "bench.cli.main", "run", "study", args.study]
    cmd += ["--smoke"] * args.smoke + ["--store", str(store)]
    machine = numerics()
    print(
        f"{' '.join(['bench', *cmd[3:5], args.study] + ['--smoke'] * args.smoke)}: empty cache "
        f"and store in {folder}; {machine['cpu']}, {machine['cores']} cores, {machine['isa']}, "
        f"torch {machine['torch']}, python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    total, lines = timed(cmd, env)
    details = {
        r["run_key"][:10]: r["details"] or {} for r in Store(str(store), create=False).list_runs()
    }
    print(f"\n{'stage':<52}{'train':>8}{'eval':>8}{'rest':>8}{'seconds':>10}")
    last_run_at, fill = 0.0, None
    for at, text in lines:
        if m := STAGE.match(text):
            print(f"{m[1]:<52}{'':>24}{float(m[2]):>10.1f}")
        elif m := FILL.search(text):
            fill = (int(m[1]), float(m[2]))
        elif m := RUN.match(text):
            arm, seed, key, seconds = m[1], m[2], m[3], float(m[4])
            d = details.get(key, {})
            train, ev = d.get("train_seconds", 0.0), d.get("eval_seconds", 0.0)
            rest = seconds - train - ev
            print(
                f"{f'run {arm} seed {seed}':<52}{train:>8.1f}{ev:>8.1f}{rest:>8.1f}{seconds:>10.1f}"
            )
            last_run_at = at
    if fill:
        print(f"{f'  of which the frozen-feature cache fill ({fill[0]} images)':<52}{'':>24}"
              f"{fill[1]:>10.1f}")  # fmt: skip
    workers = next((m[1] for _, t in lines if (m := WORKERS.search(t))), None)
    if workers:
        print(f"  (the runs ran {workers} side by side: their times overlap)")
    print(f"{'table (after the last run)':<52}{'':>24}{total - last_run_at:>10.1f}")
    print(f"{'total':<52}{'':>24}{total:>10.1f}")
    again, _ = timed(cmd, env)
    print(f"{'re-run, every run finished':<52}{'':>24}{again:>10.1f}")


if __name__ == "__main__":
    main()
