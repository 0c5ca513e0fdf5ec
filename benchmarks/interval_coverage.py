"""Do the toolkit's intervals cover the truth 95% of the time? A simulation with a known answer.

Simulated studies (``scac.metrics.simulation.StudyModel``: two methods, a per-run random
effect, test images drawn from a larger population) of 3, 5 and 10 seeds on 500 test images;
for each, every interval method of ``scac.metrics.variance`` is computed and checked against the
true difference (expected over runs, on the whole population). Printed side by side: each
method's coverage (share of studies whose interval holds the truth; the target is 95% ± 2.5%)
and median width, and how often the interval excludes 0.

    python benchmarks/interval_coverage.py                  # 400 studies per seed count
    python benchmarks/interval_coverage.py --studies 200    # a quicker look
    python benchmarks/interval_coverage.py --run-noise 0    # no run-to-run chance: images only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.comparisons.paired import DEFAULT_BOOT  # noqa: E402
from scac.metrics.protocols import get_protocol  # noqa: E402
from scac.metrics.simulation import StudyModel  # noqa: E402
from scac.metrics.variance import METHODS, from_differences, seed_differences  # noqa: E402


def coverage(model: StudyModel, seeds: int, studies: int, images: int, rng):
    """method -> (coverage, median width, share excluding 0) over ``studies`` studies, each
    method with the toolkit's number of image resamples
    (``bench.comparisons.paired.DEFAULT_BOOT``)."""
    truth = model.true_difference()
    hits = {m: [] for m in METHODS}
    widths = {m: [] for m in METHODS}
    stars = {m: [] for m in METHODS}
    most = max(DEFAULT_BOOT.values())
    protocol = get_protocol("default")
    for i in range(studies):
        study = model.study(seeds, images, rng)
        full, boot = seed_differences(
            study.pairs, study.targets, None, protocol, "mAP", most, i, "logit"
        )
        for m in METHODS:
            ci = from_differences(full, boot[:, : DEFAULT_BOOT[m]], m, seed=i)
            hits[m].append(ci.low <= truth <= ci.high)
            widths[m].append(ci.high - ci.low)
            stars[m].append(ci.excludes_zero)
    return {
        m: (float(np.mean(hits[m])), statistics.median(widths[m]), float(np.mean(stars[m])))
        for m in METHODS
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=400)
    ap.add_argument("--seeds", default="3,5,10")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--run-noise", type=float, default=None, help="StudyModel.run_noise")
    ap.add_argument("--run-shift", type=float, default=None, help="StudyModel.run_shift")
    args = ap.parse_args()

    model = StudyModel()
    for name in ("run_noise", "run_shift"):
        if getattr(args, name) is not None:
            model = StudyModel(**{**model.__dict__, name: getattr(args, name), "_cache": {}})
    start = time.perf_counter()
    truth = model.true_difference()
    print(
        f"{model}\ntrue difference {truth:+.2f} mAP points (200 runs of each method on the "
        f"{model.pool:,}-image population); {args.studies} studies per row, {args.images} test "
        f"images, image resamples {DEFAULT_BOOT}; {time.strftime('%Y-%m-%d %H:%M')}\n"
    )
    rng = np.random.default_rng(2026)
    print(f"{'seeds':>5}  {'interval':<14}{'coverage':>9}{'median width':>14}{'excludes 0':>12}")
    for k in (int(s) for s in args.seeds.split(",")):
        for m, (cov, width, star) in coverage(model, k, args.studies, args.images, rng).items():
            flag = "" if abs(cov - 0.95) <= 0.025 else "  <- outside 95% ± 2.5%"
            print(f"{k:>5}  {m:<14}{cov:>9.1%}{width:>14.2f}{star:>12.1%}{flag}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
