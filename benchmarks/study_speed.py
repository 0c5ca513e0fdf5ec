"""Wall time of the frozen phase of a study's runs, with and without the frozen-feature cache.

For every run of the study (arms x seeds; by default the first seed only), the frozen phase
(phase 1 of the recipe: backbone and FPN frozen) is trained twice from the same start: once
computing the frozen features every step, once from the cache, which is filled by the first run
that needs it (its fill time counts in the cached total). The model after the phase is then
scored on the validation split, so the two ways can be checked to give identical numbers.

    python benchmarks/study_speed.py                       # context_ratio, seed 0: 5 runs
    python benchmarks/study_speed.py --seeds 0,1,2         # the whole study (15 runs)
    python benchmarks/study_speed.py --smoke               # a quick look at small sizes
    python benchmarks/study_speed.py --arms 2 --set train.phases.0.epochs=1   # a shorter one

On a GPU (when one is present) the runs use it, with bf16 autocast.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.studies.files import load_study, resolve  # noqa: E402
from scac.cache import default_cache_dir  # noqa: E402
from scac.config import parse_override  # noqa: E402
from scac.engine.assets import ensure_assets  # noqa: E402
from scac.engine.feature_cache import FrozenFeatures  # noqa: E402
from scac.engine.predict import predict  # noqa: E402
from scac.engine.run import assemble, resolve_device  # noqa: E402
from scac.engine.train import Runtime, train  # noqa: E402
from scac.metrics import summarize  # noqa: E402


def frozen_phase(cfg, runtime: Runtime, cache_root: Path | None, cache_dir: Path):
    """Train the frozen phase of ``cfg``; (seconds, validation scores, mAP)."""
    parts = assemble(cfg, cache_dir, runtime.device)
    data, model = parts.data, parts.model
    phase = cfg.train.phases[0]
    frozen = None
    if cache_root is not None:
        frozen = FrozenFeatures(
            model,
            data.train,
            cache_root,
            amp=runtime.amp,
            autocast=runtime.autocast,
            device=runtime.device,
        )
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train(
        model,
        parts.objective,
        data.train,
        replace(cfg.train, phases=(phase,)),
        seed=cfg.seed,
        runtime=runtime,
        phase_forward=frozen.for_phase if frozen else None,
    )
    if runtime.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    preds = predict(model, data.val, batch_size=cfg.train.eval_batch_size, runtime=runtime)
    metrics, _ = summarize(preds, cfg.eval.threshold)
    return seconds, preds.scores, metrics["mAP"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="context_ratio")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds [0]")
    ap.add_argument("--smoke", action="store_true", help="the study's smoke size")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--arms", type=int, default=None, help="only the first N arms [all]")
    ap.add_argument(
        "--set", action="append", default=[], help="override a config key: key=value (repeat)"
    )
    args = ap.parse_args()

    device = resolve_device(args.device)
    runtime = Runtime(device=device, amp="bf16" if device.type == "cuda" else "none")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    overrides = dict(parse_override(o) for o in args.set)
    specs = resolve(load_study(args.study), smoke=args.smoke, seeds=seeds, overrides=overrides)
    if args.arms:
        arms = list(dict.fromkeys(arm.name for arm, _, _ in specs))[: args.arms]
        specs = [s for s in specs if s[0].name in arms]
    cache_dir = default_cache_dir()
    ensure_assets(specs[0][2], cache_dir)  # dataset and pretrained weights, outside the timings
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"{args.study}: frozen phase of {len(specs)} runs; device {device} ({name or 'cpu'}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, amp {runtime.amp}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print(f"{'run':<28}{'no cache (s)':>14}{'cache (s)':>12}{'speed-up':>10}  identical")
    totals = [0.0, 0.0]
    all_same = True
    with tempfile.TemporaryDirectory(prefix="study-speed-") as tmp:
        for arm, seed, cfg in specs:
            plain = frozen_phase(cfg, runtime, None, cache_dir)
            cached = frozen_phase(cfg, runtime, Path(tmp), cache_dir)
            same = np.array_equal(plain[1], cached[1])
            all_same &= same
            totals[0] += plain[0]
            totals[1] += cached[0]
            print(
                f"{arm.name + ' seed ' + str(seed):<28}{plain[0]:>14.1f}{cached[0]:>12.1f}"
                f"{plain[0] / cached[0]:>9.2f}x  {'yes' if same else 'NO'} "
                f"(mAP {plain[2]:.2f} / {cached[2]:.2f})"
            )
    print(
        f"{'all runs':<28}{totals[0]:>14.1f}{totals[1]:>12.1f}{totals[0] / totals[1]:>9.2f}x  "
        f"{'yes' if all_same else 'NO'}  (the first cached run includes filling the cache)"
    )


if __name__ == "__main__":
    main()
