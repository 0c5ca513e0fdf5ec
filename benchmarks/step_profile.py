"""Where a SCAC training step's time goes, by operator (``train_throughput.py --profile``).

With the frozen phase (``--frozen``) the step starts from precomputed backbone + FPN features, as
a cached run does, so the printed dense arithmetic (convolutions and matrix products, forward and
backward) bounds what the frozen-feature cache can give: both steps compute it.
"""

from __future__ import annotations

import time

import torch

from scac.data.batch import Batch

# operators that do the dense arithmetic (self time: the kernels, not their Python wrappers)
DENSE_OPS = (
    "aten::mkldnn_convolution",
    "aten::cudnn_convolution",
    "aten::convolution_backward",
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "mkldnn::_linear_pointwise",  # the linear layers on oneDNN (scac.models.dense)
)


def profile_step(setup: tuple, batches: list[Batch], device, warmup: int, stage: str | None):
    """A training step: (seconds per step, the same under the profiler, [(operator, self
    seconds per step)] largest first).

    Args:
        setup: ``train_throughput.trainer``'s (model, loss function, optimiser, autocast).
        batches: the batches; the first ``warmup`` are trained but neither timed nor profiled.
        stage: start every step from this part's precomputed output, as from the cache; None
            for the whole step.
    """
    from torch.profiler import ProfilerActivity, profile

    model, loss_fn, opt, autocast = setup
    batches = [b.to(device) for b in batches]
    with torch.no_grad(), autocast:  # the cache stores what the frozen parts give under AMP
        features = [model.features(stage, b.images) if stage else None for b in batches]

    def step(batch: Batch, feats) -> None:
        with autocast:
            if stage:
                out = model.forward_from(stage, feats, batch.images, batch.boxes)
            else:
                out = model(batch.images, batch.boxes)
            loss = loss_fn(out, batch)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    on_gpu = device.type == "cuda"

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    def timed_steps() -> float:  # seconds per timed step
        sync()
        start = time.perf_counter()
        for batch, feats in zip(batches[warmup:], features[warmup:], strict=True):
            step(batch, feats)
        sync()
        return (time.perf_counter() - start) / (len(batches) - warmup)

    for batch, feats in zip(batches[:warmup], features[:warmup], strict=True):
        step(batch, feats)
    plain = timed_steps()  # the profiler's own cost slows many small operators: time apart too
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with profile(activities=activities) as prof:
        profiled = timed_steps()
    steps = len(batches) - warmup
    key = "self_device_time_total" if on_gpu else "self_cpu_time_total"
    ops = [(e.key, getattr(e, key) / 1e6 / steps) for e in prof.key_averages()]
    ops.sort(key=lambda op: -op[1])
    return plain, profiled, ops


def print_profile(args, setup: tuple, batches, device, stage, skipped: float) -> None:
    """The profiled step's largest operators and its dense arithmetic (``--profile``).

    Args:
        setup: ``train_throughput.trainer``'s (model, loss function, optimiser, autocast).
        stage: the cached stage (``backbone``, ``neck``) the step starts from, or None.
        skipped: seconds per step the cache skips (data, the frozen stages); 0 without one.
    """
    frozen = stage is not None
    plain, profiled, ops = profile_step(setup, batches, device, args.warmup, stage)
    clock = "GPU" if device.type == "cuda" else "CPU"
    what = f"from cached {stage} features" if frozen else "the whole step"
    print(
        f"\nSCAC step profiled ({what}; torch.profiler, {args.steps} steps, "
        f"self {clock} time): {plain * 1000:.1f} ms/step, {profiled * 1000:.1f} under the profiler"
    )
    print(f"{'operator':<34}{'ms/step':>10}")
    for name, op_seconds in ops[:12]:
        print(f"{name:<34}{op_seconds * 1000:>10.1f}")
    dense = sum(op_seconds for name, op_seconds in ops if name in DENSE_OPS)
    print(
        f"dense arithmetic (convolutions, matrix products; forward + backward): "
        f"{dense * 1000:.1f} ms/step"
    )
    if frozen:
        # Both steps compute everything after the FPN, so the cache's speed-up is
        # (skipped + after) / after; "after" is at least its dense arithmetic.
        print(
            f"even if all else after the {stage} cost nothing, with and without the cache, the "
            f"cache would make a step at most (skipped {skipped * 1000:.1f} + dense "
            f"{dense * 1000:.1f}) / dense = {(skipped + dense) / dense:.2f}x faster, at these "
            "kernels' speed"
        )
