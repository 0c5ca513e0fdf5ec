"""Training throughput of SCAC and of the ResNet binary-relevance baseline, and where SCAC's
time goes (backbone, FPN, RPN, RoIAlign, heads, loss, backward + optimiser step).

Both models train on the same batches at the same input size with the same backbone, so the
images/s compare like with like. With ``--data real`` (the default for the synthetic preset) the
batches are the synthetic training split's, read and decoded as in a study, and the models start
from the recipe's pretrained weights, so the RPN proposes what it proposes in a study; with
``--data random`` (the only choice for the paper preset here: no COCO) they are random images
and boxes from random weights. SCAC's parts are timed with forward hooks (synchronised on GPUs);
backward and the optimiser step are timed as one block, since autograd runs the parts' backward
interleaved; reading + decoding + collating the batches is timed on its own.

With ``--frozen`` (the recipe's first phase: what it freezes, the CNN for the synthetic recipe)
the script also prints the share of a step spent in what the frozen-feature cache skips (reading
images and the frozen stages), and so the most the cache can speed the phase up (Amdahl:
1 / (1 - share)).

With ``--profile`` it then profiles SCAC's step with ``torch.profiler`` (with ``--frozen``: the
step a cached frozen phase runs, from the frozen stages' precomputed features) and prints the
operators that take the most time and its dense arithmetic (convolutions and matrix products,
forward and backward): what the step computes with or without the cache, so with ``--frozen``
the most the cache could give even if everything else after the FPN cost nothing.

    python benchmarks/train_throughput.py                      # the synthetic default (CPU size)
    python benchmarks/train_throughput.py --frozen             # the frozen phase's step
    python benchmarks/train_throughput.py --preset paper       # ResNeXt-101 + FPN, 416 px
    python benchmarks/train_throughput.py --frozen --profile   # + the cached step's operators

On a GPU the same script uses it with bf16 autocast; the device is printed first.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scac.cache import default_cache_dir  # noqa: E402
from scac.config import load_recipe, with_overrides  # noqa: E402
from scac.data.batch import Batch  # noqa: E402
from scac.engine.assets import pretrained_files  # noqa: E402
from scac.engine.run import assemble, model_and_objective, resolve_device  # noqa: E402
from scac.engine.train import epoch_batches, set_frozen  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_profile import print_profile  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {
    # the synthetic default: shallow backbone, 128 px, batch 8 (studies/recipes/synth.toml)
    "synth": ("synth.toml", "baseline-synth.toml", {}),
    # the paper's recipe: ResNeXt-101 32x8d + FPN at 416 px, batch 2 (scac-coco.toml)
    "paper": ("scac-coco.toml", None, {"model.weights": "none", "model.detector_weights": "none"}),
}
PARTS = {
    "backbone": "backbone",
    "FPN": "neck",
    "RPN": "object_patches",
    "RoIAlign": "roi_pool",
    "heads": ("object_head", "context_head"),
}
NUM_CLASSES = 80


class PartTimer:
    """Wall time spent in named submodules' forward passes (hooks; synchronised on GPUs)."""

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.device = device
        self._start: dict[int, float] = {}
        for label, names in PARTS.items():
            for name in (names,) if isinstance(names, str) else names:
                module = getattr(model, name, None)
                if module is not None:
                    module.register_forward_pre_hook(self._pre)
                    module.register_forward_hook(partial(self._post, label))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _pre(self, module, args) -> None:
        self._sync()
        self._start[id(module)] = time.perf_counter()

    def _post(self, label: str, module, args, out) -> None:
        self._sync()
        self.seconds[label] += time.perf_counter() - self._start.pop(id(module))


def random_batch(n: int, size: int, num_classes: int, device: torch.device) -> Batch:
    """``n`` random images with 1-4 boxes of 8-40% of the side and matching labels."""
    g = torch.Generator().manual_seed(0)
    boxes, box_labels = [], []
    for _ in range(n):
        k = int(torch.randint(1, 5, (1,), generator=g))
        wh = size * (0.08 + 0.32 * torch.rand(k, 2, generator=g))
        xy = (size - wh) * torch.rand(k, 2, generator=g)
        boxes.append(torch.cat([xy, xy + wh], 1).to(device))
        box_labels.append(torch.randint(0, num_classes, (k,), generator=g).to(device))
    labels = torch.zeros(n, num_classes)
    for i, bl in enumerate(box_labels):
        labels[i, bl.cpu()] = 1.0
    return Batch(
        images=torch.randn(n, 3, size, size, generator=g).to(device),
        boxes=boxes,
        box_labels=box_labels,
        labels=labels.to(device),
        label_mask=torch.ones(n, num_classes, dtype=torch.bool, device=device),
        image_ids=torch.arange(n),
        flipped=torch.zeros(n, dtype=torch.bool),
        indices=torch.arange(n),
    )


def real_batches(cfg, n: int, count: int, cache_dir: Path) -> tuple[list[Batch], float, int]:
    """``count`` batches of the recipe's training split, as a study reads them.

    Returns:
        (batches on the CPU, seconds per batch to read + decode + collate, number of classes).
    """
    data = assemble(cfg, cache_dir, torch.device("cpu")).data  # assets made outside the timings
    start = time.perf_counter()
    batches = []
    for batch in epoch_batches(data.train, n, cfg.seed, 0):
        batches.append(batch)
        if len(batches) == count:
            break
    return batches, (time.perf_counter() - start) / len(batches), len(data.classes)


def trainer(cfg, num_classes: int, weights: dict[str, Path], device, amp, frozen):
    """(model in training mode with ``frozen`` parts frozen, loss function, SGD, autocast)."""
    model, loss_fn = model_and_objective(cfg, num_classes, weights, device)
    model.train()
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    set_frozen(model, frozen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    return model, loss_fn, opt, torch.autocast(device.type, torch.bfloat16, enabled=bool(amp))


def measure(
    cfg,
    batches: list[Batch],
    num_classes: int,
    weights: dict[str, Path],
    device,
    amp,
    warmup: int,
    frozen: tuple[str, ...],
):
    """(images/s, per-part seconds per step, total seconds per step) of training steps.

    The first ``warmup`` batches are trained but not timed.
    """
    model, loss_fn, opt, autocast = trainer(cfg, num_classes, weights, device, amp, frozen)
    timer = PartTimer(model, device)
    total = loss_time = back = 0.0
    for step, batch in enumerate(batches):
        if step == warmup:
            timer.seconds.clear()
            total = loss_time = back = 0.0
        batch = batch.to(device)
        if cfg.train.channels_last:
            batch.images = batch.images.contiguous(memory_format=torch.channels_last)
        timer._sync()
        t0 = time.perf_counter()
        with autocast:
            out = model(batch.images, batch.boxes)
            timer._sync()
            t1 = time.perf_counter()
            loss = loss_fn(out, batch)["total"]
        timer._sync()
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        timer._sync()
        t3 = time.perf_counter()
        total += t3 - t0
        loss_time += t2 - t1
        back += t3 - t2
    steps = len(batches) - warmup
    parts = {k: v / steps for k, v in timer.seconds.items()}
    parts["loss"] = loss_time / steps
    parts["backward + step"] = back / steps
    return len(batches[0]) * steps / total, parts, total / steps


def add_input_arguments(ap: argparse.ArgumentParser) -> None:
    """``--preset`` and ``--data``: which recipe, and its real batches or random ones."""
    ap.add_argument("--preset", choices=sorted(PRESETS), default="synth")
    ap.add_argument(
        "--data",
        choices=("real", "random"),
        default=None,
        help="the recipe's training batches and pretrained weights, or random ones "
        "[real for synth; random for paper]",
    )


def input_kind(args: argparse.Namespace) -> str:
    """``real`` or ``random``: ``--data``, else real for the synthetic preset (no COCO here)."""
    return args.data or ("real" if args.preset == "synth" else "random")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_arguments(ap)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="images per step [the recipe's]")
    ap.add_argument("--frozen", action="store_true", help="freeze what the recipe's phase 1 does")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="then profile SCAC's step by operator (with --frozen: from cached features)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--amp",
        choices=("auto", "none", "bf16"),
        default="auto",
        help="mixed precision [auto: bf16 on a GPU, none on the CPU]",
    )
    ap.add_argument(
        "--channels-last", action="store_true", help="NHWC memory format (GPU convolutions)"
    )
    args = ap.parse_args()

    device = resolve_device(args.device)
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    scac_recipe, baseline_recipe, sets = PRESETS[args.preset]
    data_kind = input_kind(args)
    scac_cfg = with_overrides(load_recipe(ROOT / "studies" / "recipes" / scac_recipe), sets)
    m = scac_cfg.model
    base_cfg = with_overrides(
        load_recipe(ROOT / "studies" / "recipes" / (baseline_recipe or "baseline-synth.toml")),
        {"model.backbone": m.backbone, "model.weights": m.weights},
    )
    if args.channels_last:
        scac_cfg = with_overrides(scac_cfg, {"train.channels_last": True})
        base_cfg = with_overrides(base_cfg, {"train.channels_last": True})
    if data_kind == "random":  # random batches: no pretrained weights either
        none = {"model.weights": "none", "model.detector_weights": "none"}
        scac_cfg = with_overrides(scac_cfg, none)
        base_cfg = with_overrides(base_cfg, {"model.weights": "none"})
    size, n = scac_cfg.data.image_size, args.batch or scac_cfg.train.batch_size
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({name or 'cpu'}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, amp {'bf16' if amp else 'off'}"
        f"{', channels-last' if args.channels_last else ''}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    count = args.warmup + args.steps
    cache_dir = default_cache_dir()
    if data_kind == "real":
        batches, load_s, num_classes = real_batches(scac_cfg, n, count, cache_dir)
        scac_w = pretrained_files(scac_cfg, cache_dir)
        base_w = pretrained_files(base_cfg, cache_dir)
        source = f"{len(batches)} batches of the training split, pretrained weights ({m.weights})"
    else:
        num_classes, load_s, scac_w, base_w = NUM_CLASSES, 0.0, {}, {}
        batches = [random_batch(n, size, num_classes, device)] * count
        source = "random images and boxes, random weights"
    frozen = tuple(scac_cfg.train.phases[0].freeze) if args.frozen else ()
    print(
        f"preset {args.preset}: backbone {m.backbone}, {size}x{size} px, batch {n}, "
        f"{args.steps} timed steps after {args.warmup}, "
        f"{' + '.join(frozen) + ' frozen' if frozen else 'all parts training'}; {source}"
    )
    s_ips, parts, step = measure(
        scac_cfg, batches, num_classes, scac_w, device, amp, args.warmup, frozen
    )
    b_ips, _, b_step = measure(
        base_cfg,
        batches,
        num_classes,
        base_w,
        device,
        amp,
        args.warmup,
        ("backbone",) if frozen else (),
    )
    print(f"\n{'model':<22}{'images/s':>10}{'ms/step':>10}   (training step, data excluded)")
    print(f"{'SCAC':<22}{s_ips:>10.1f}{step * 1000:>10.1f}")
    print(f"{'ResNet baseline':<22}{b_ips:>10.1f}{b_step * 1000:>10.1f}")
    print(f"SCAC / baseline time per image: {b_ips / s_ips:.2f}x")
    whole = step + load_s
    print(f"\n{'SCAC part':<22}{'ms/step':>10}{'share':>8}   (of data + step)")
    if load_s:
        print(f"{'data (read+decode)':<22}{load_s * 1000:>10.1f}{load_s / whole:>8.1%}")
    for label, seconds in parts.items():
        print(f"{label:<22}{seconds * 1000:>10.1f}{seconds / whole:>8.1%}")
    rest = step - sum(parts.values())
    print(f"{'other (Python glue)':<22}{rest * 1000:>10.1f}{rest / whole:>8.1%}")
    stage = cacheable_stage_of(frozen)
    cached = {"backbone": ("backbone",), "neck": ("backbone", "FPN")}.get(stage, ())
    skipped = load_s + sum(parts.get(p, 0.0) for p in cached) if stage else 0.0
    if stage:
        print(
            f"\nwhat the frozen-feature cache skips (data, {', '.join(cached)}): "
            f"{skipped / whole:.1%} of a frozen-phase step -> at most "
            f"{whole / (whole - skipped):.2f}x faster with it"
        )
    if args.profile:
        setup = trainer(scac_cfg, num_classes, scac_w, device, amp, frozen)
        print_profile(args, setup, batches, device, stage, skipped)


def cacheable_stage_of(frozen: tuple[str, ...]) -> str | None:
    """The last SCAC stage the frozen-feature cache can hold when ``frozen`` is frozen."""
    stage = None
    for name in ("backbone", "neck"):
        if name not in frozen:
            break
        stage = name
    return stage


if __name__ == "__main__":
    main()
