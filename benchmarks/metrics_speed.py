"""How fast are scac.metrics on a COCO-val-sized problem, next to scikit-learn and torchmetrics?

40,504 images x 80 classes (COCO val2014), about 2.9 positives per image with COCO-like class
imbalance, probabilities as float32 with a fifth of them rounded to two decimals (tied scores).
Times, best and median of ``--repeat`` runs, after one warm-up:

* our full metric set (default protocol: mAP, CP/CR/CF1 both ways/OP/OR/OF1, the same at top-3);
* our mAP alone; scikit-learn's per-class loop of ``average_precision_score``; torchmetrics'
  ``multilabel_average_precision`` (exact, ``thresholds=None``), and torchmetrics' AP + macro and
  micro P/R/F1 (7 calls: the nearest it has to the full set);
* the full set under every preset; a paired bootstrap of the mAP difference (``--boot``).

Checks that our values agree with scikit-learn, torchmetrics and (ties broken by order, as
the ML-GCN / ASL presets do) a per-class loop over a stable sort, and prints the versions.

    python benchmarks/metrics_speed.py [--repeat 5] [--boot 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
import sklearn
import torch
import torchmetrics
from sklearn.metrics import average_precision_score
from torchmetrics.functional.classification import (
    multilabel_average_precision,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)

from scac.metrics import PROTOCOLS, average_precision, evaluate, paired_bootstrap

N_IMAGES, N_CLASSES, POSITIVES_PER_IMAGE = 40_504, 80, 2.9


def make_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores_a, scores_b, targets): two float32 prediction sets on the same labels."""
    rng = np.random.default_rng(seed)
    share = np.exp(-np.arange(N_CLASSES) / 18.0)  # a few frequent classes, a long tail
    share *= POSITIVES_PER_IMAGE / share.sum()
    targets = (rng.random((N_IMAGES, N_CLASSES)) < share).astype(np.uint8)

    def scores(signal: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-(signal * targets - 2.5 + rng.standard_normal(targets.shape))))
        tied = rng.random(p.shape) < 0.2
        p[tied] = np.round(p[tied], 2)
        return p.astype(np.float32)

    return scores(3.0), scores(2.8), targets


def _ordered_ap(scores: np.ndarray, targets: np.ndarray) -> float:
    """One class's AP walking the images in stable descending score order (ties by index)."""
    hit = targets[np.argsort(-scores, kind="stable")] == 1
    precision = np.cumsum(hit)[hit] / (np.flatnonzero(hit) + 1)
    return float(precision.mean())


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(best, median) seconds of ``repeat`` calls after a warm-up, and the last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per line")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap replicates (0: skip)")
    args = parser.parse_args()

    scores, other, targets = make_problem()
    s_t, y_t = torch.from_numpy(scores), torch.from_numpy(targets).long()
    print(
        f"problem: {N_IMAGES} images x {N_CLASSES} classes, "
        f"{targets.sum() / N_IMAGES:.2f} positives per image, "
        f"{1 - len(np.unique(scores)) / scores.size:.1%} of scores share a value"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPU cores (load average {load}), "
        f"torch threads {torch.get_num_threads()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, torchmetrics {torchmetrics.__version__}"
    )
    print(f"times: best / median of {args.repeat} runs, seconds")

    def line(name: str, best: float, median: float, note: str = "") -> None:
        print(f"  {name:<44} {best:7.3f} / {median:7.3f}  {note}")

    full = timed(lambda: evaluate(scores, targets).metrics, args.repeat)
    ours = timed(lambda: np.nanmean(average_precision(scores, targets).numpy()), args.repeat)
    skl = timed(
        lambda: np.mean(
            [average_precision_score(targets[:, c], scores[:, c]) for c in range(N_CLASSES)]
        ),
        args.repeat,
    )
    tm_ap = timed(lambda: multilabel_average_precision(s_t, y_t, N_CLASSES).item(), args.repeat)

    def tm_set() -> list[float]:
        out = [multilabel_average_precision(s_t, y_t, N_CLASSES).item()]
        for fn in (multilabel_precision, multilabel_recall, multilabel_f1_score):
            for avg in ("macro", "micro"):
                out.append(fn(s_t, y_t, N_CLASSES, average=avg).item())
        return out

    tm_full = timed(tm_set, args.repeat)
    line("ours: full metric set (default protocol)", *full[:2])
    line("ours: mAP alone", *ours[:2])
    line("scikit-learn: average_precision_score loop", *skl[:2], f"{skl[0] / ours[0]:.1f}x ours")
    line("torchmetrics: multilabel_average_precision", *tm_ap[:2], f"{tm_ap[0] / ours[0]:.1f}x")
    line("torchmetrics: AP + macro/micro P, R, F1", *tm_full[:2], f"{tm_full[0] / full[0]:.1f}x")

    m = full[2]
    checks = {
        "mAP vs scikit-learn": abs(m["mAP"] / 100 - skl[2]),
        "mAP vs torchmetrics (float32)": abs(m["mAP"] / 100 - tm_ap[2]),
    }
    keys = ["CP", "OP", "CR", "OR", "CF1_mean_f1", "OF1"]
    for key, value in zip(keys, tm_full[2][1:], strict=True):
        checks[f"{key} vs torchmetrics"] = abs(m[key] / 100 - value)
    checks["mAP, ties by order, vs a per-class loop"] = abs(
        np.nanmean(average_precision(scores, targets, ties="order").numpy())
        - np.mean([_ordered_ap(scores[:, c], targets[:, c]) for c in range(N_CLASSES)])
    )
    worst = max(checks, key=checks.get)
    ok = all(v < (1e-5 if "float32" in k else 1e-6) for k, v in checks.items())
    print(
        f"values agree: {'yes' if ok else 'NO'} (largest |difference| {checks[worst]:.1e}, {worst})"
    )

    print("full metric set per preset:")
    for name in PROTOCOLS.names():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best, median, _ = timed(lambda n=name: evaluate(scores, targets, protocol=n), 3)
        line(f"  {name}", best, median)

    if args.boot:
        start = time.perf_counter()
        ci = paired_bootstrap(scores, other, targets, n_boot=args.boot)
        took = time.perf_counter() - start
        print(
            f"paired bootstrap of the mAP difference, {args.boot} replicates: {took:.1f} s "
            f"({1000 * took / args.boot:.0f} ms per replicate); "
            f"delta {ci.delta:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]"
        )


if __name__ == "__main__":
    main()
