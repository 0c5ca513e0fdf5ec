"""CPU RoIAlign: ours (``scac.models.roi_align``) against torchvision's, level by level, on the
patches SCAC pools in training.

SCAC pools every object patch and every context patch from one pyramid level (FPN eq. 1). This
script records what the model's RoIAlign receives in a few training forward passes (both
branches; ground-truth boxes appended, as in training), then times each level's pooling with
``torchvision.ops.roi_align`` and with our CPU path: forward alone (features without a gradient,
as in the frozen phase) and forward + backward to the features (the joint phase). It prints
milliseconds per training step, the speed-up and the largest difference between the two outputs.

    python benchmarks/roi_align_speed.py                        # synthetic default, real batches
    python benchmarks/roi_align_speed.py --preset paper --steps 1   # ResNeXt-101 + FPN, 416 px

The comparison is a CPU one: on CUDA the model always uses torchvision's kernel.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torchvision.ops import roi_align

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_throughput import (  # noqa: E402
    NUM_CLASSES,
    PRESETS,
    ROOT,
    add_input_arguments,
    input_kind,
    random_batch,
    real_batches,
)

from scac.cache import default_cache_dir  # noqa: E402
from scac.config import load_recipe, with_overrides  # noqa: E402
from scac.engine.assets import pretrained_files  # noqa: E402
from scac.engine.run import model_and_objective  # noqa: E402
from scac.models.roi_align import separable_roi_align  # noqa: E402


def recorded_calls(preset: str, data: str, steps: int, batch: int | None):
    """The RoIAlign module and its inputs (features, boxes) over ``steps`` training passes."""
    recipe, _, sets = PRESETS[preset]
    cfg = with_overrides(load_recipe(ROOT / "studies" / "recipes" / recipe), sets)
    n = batch or cfg.train.batch_size
    if data == "real":  # the split's own batches and the recipe's pretrained weights
        cache_dir = default_cache_dir()
        batches, _, num_classes = real_batches(cfg, n, steps, cache_dir)
        weights = pretrained_files(cfg, cache_dir)
    else:  # random images, boxes and weights (the only choice for the paper preset here)
        cfg = with_overrides(cfg, {"model.weights": "none", "model.detector_weights": "none"})
        num_classes, weights = NUM_CLASSES, {}
        batches = [random_batch(n, cfg.data.image_size, num_classes, torch.device("cpu"))] * steps
    model, _ = model_and_objective(cfg, num_classes, weights, torch.device("cpu"))
    model.train()
    calls = []
    hook = model.roi_pool.register_forward_hook(
        lambda _m, args, _out: calls.append((args[0], [b.detach() for b in args[1]]))
    )
    with torch.no_grad():
        for b in batches:
            model(b.images, b.boxes)
    hook.remove()
    return model.roi_pool, calls, cfg, n


def timed(fn, features: torch.Tensor, grad: bool, repeats: int) -> tuple[float, torch.Tensor]:
    """Median seconds of ``fn(features)`` (and its backward when ``grad``), and one output."""
    seconds = []
    for _ in range(repeats):
        x = features.detach().requires_grad_(grad)
        start = time.perf_counter()
        out = fn(x)
        if grad:
            out.backward(torch.ones_like(out))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_arguments(ap)
    ap.add_argument("--steps", type=int, default=4, help="training forward passes recorded")
    ap.add_argument("--repeats", type=int, default=5, help="timings per call (median taken)")
    ap.add_argument("--batch", type=int, default=None, help="images per step [the recipe's]")
    args = ap.parse_args()

    data = input_kind(args)
    pool, calls, cfg, n = recorded_calls(args.preset, data, args.steps, args.batch)
    r, ratio = pool.output_size, pool.sampling_ratio
    print(
        f"cpu, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{time.strftime('%Y-%m-%d')}; preset {args.preset}: {cfg.model.backbone}, "
        f"{cfg.data.image_size} px, batch {n}, {data} data, "
        f"{args.steps} training passes x 2 branches, output {r}x{r}, sampling ratio {ratio}, "
        f"median of {args.repeats}"
    )
    rows = {}  # level -> [map shape, patches, fwd tv, fwd ours, both tv, both ours, max diff]
    for features, boxes in calls:
        flat = torch.cat(boxes)
        image = torch.cat([torch.full((len(b),), i) for i, b in enumerate(boxes)])
        level = pool.level_of(flat)
        for k, (name, scale) in enumerate(zip(pool.names, pool.scales, strict=True)):
            idx = torch.where(level == k)[0]
            if len(idx) == 0:
                continue
            rois = torch.cat([image[idx, None].to(flat.dtype), flat[idx]], 1)  # (K, 5)
            tv = partial(
                roi_align, boxes=rois, output_size=r, spatial_scale=scale, sampling_ratio=ratio
            )
            ours = partial(
                separable_roi_align,
                boxes=flat[idx],
                image_index=image[idx],
                output_size=r,
                spatial_scale=scale,
                sampling_ratio=ratio,
            )

            fmap = features[name]
            row = rows.setdefault(name, [tuple(fmap.shape[-2:]), 0, 0.0, 0.0, 0.0, 0.0, 0.0])
            row[1] += len(idx)
            for col, grad in ((2, False), (4, True)):
                t_tv, out_tv = timed(tv, fmap, grad, args.repeats)
                t_ours, out_ours = timed(ours, fmap, grad, args.repeats)
                row[col] += t_tv
                row[col + 1] += t_ours
                row[6] = max(row[6], float((out_tv - out_ours).abs().max()))

    steps = args.steps
    print(
        f"\n{'level':<6}{'map':>10}{'patches':>9}   {'forward (ms/step)':^28}   "
        f"{'forward + backward (ms/step)':^28}{'max |diff|':>12}"
    )
    head = f"{'torchvision':>12}{'ours':>8}{'x':>8}"
    print(f"{'':<25}{head}   {head}")
    total = [0.0] * 4
    for name, (shape, count, f_tv, f_ours, b_tv, b_ours, diff) in rows.items():
        print(
            f"{name:<6}{f'{shape[0]}x{shape[1]}':>10}{count / steps:>9.0f}   "
            f"{f_tv / steps * 1e3:>12.2f}{f_ours / steps * 1e3:>8.2f}{f_tv / f_ours:>7.2f}x   "
            f"{b_tv / steps * 1e3:>12.2f}{b_ours / steps * 1e3:>8.2f}{b_tv / b_ours:>7.2f}x"
            f"{diff:>12.1e}"
        )
        for i, v in enumerate((f_tv, f_ours, b_tv, b_ours)):
            total[i] += v
    f_tv, f_ours, b_tv, b_ours = (v / steps * 1e3 for v in total)
    print(
        f"{'all':<25}{f_tv:>12.2f}{f_ours:>8.2f}{f_tv / f_ours:>7.2f}x   "
        f"{b_tv:>12.2f}{b_ours:>8.2f}{b_tv / b_ours:>7.2f}x"
    )


if __name__ == "__main__":
    main()
