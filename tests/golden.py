"""Golden values: small fixed-seed runs of every model family, whose numbers are pinned.

A code change that moves any of these numbers changes what a given config produces, so it must
bump ``scac.RESULTS_VERSION`` (old run keys then no longer name the new numbers) and rewrite the
pinned values. ``tests/test_golden.py`` runs this module in a fresh process on one instruction-set
path (the environment below, read when torch starts), so the values hold on any x86-64 machine
with AVX2, not only the one that wrote them (``scac/engine/numerics.py`` says why the path and
the thread count matter).

    python -m tests.golden            # print the values as JSON
    python -m tests.golden --write    # after a deliberate change: rewrite tests/golden.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "OMP_NUM_THREADS": "1",
}
GOLDEN = Path(__file__).with_name("golden.json")
ROOT = Path(__file__).resolve().parents[1]

# (recipe, overrides): the recipe's [smoke] and test sizes, one thread
_SMALL = {
    "data.synth.train": 12,
    "data.synth.val": 8,
    "data.image_size": 64,
    "data.synth.canvas": 64,
    "model.weights": "none",
    "train.cpu_threads": 1,
}
RUNS = {
    "scac": (
        "synth",
        {
            **_SMALL,
            "model.fpn_channels": 16,
            "model.representation_size": 32,
            "model.anchor_sizes": [8, 16, 32, 64],
            "model.roi_canonical_scale": 28,
            "model.rpn_post_nms_top_n": 8,
        },
    ),
    "resnet_baseline": ("baseline-synth", _SMALL),
    "resnet_semantic": (
        "baseline-synth",
        {
            **_SMALL,
            "model.name": "resnet_semantic",
            "model.backbone": "shallow",
            "model.hidden": 16,
        },
    ),
    "srn": ("srn-synth", {**_SMALL, "model.input_size": 64}),
    "latent_context": (
        "lc-synth",
        {
            **_SMALL,
            "model.input_size": 64,
            "model.decoder_layers": 1,
            "model.encoder_layers": 1,
            "model.ffn_dim": 64,
        },
    ),  # fmt: skip
}
METRICS = ("mAP", "CF1", "OF1", "mAP_ambiguous")


def _digest(state: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def compute() -> dict:
    """Every pinned value, computed now (in this process's instruction-set path)."""
    import torch

    from bench.studies import recipe_smoke_overrides
    from scac.config import load_recipe, with_overrides
    from scac.engine.pretrain import PretrainSettings, pretrain
    from scac.engine.run import RunOptions, run_experiment

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        for name, (recipe, overrides) in RUNS.items():
            path = ROOT / "studies" / "recipes" / f"{recipe}.toml"
            cfg = with_overrides(load_recipe(path), {**recipe_smoke_overrides(path), **overrides})
            result = run_experiment(
                cfg,
                artifacts_dir=Path(tmp) / name,
                cache_dir=Path(tmp) / "cache",
                options=RunOptions(device="cpu"),
            )
            out[name] = {m: result.metrics[m] for m in METRICS}
            out[name]["final_loss"] = result.log.epoch_loss[-1]["loss"]
        torch.set_num_threads(1)
        state, accuracy = pretrain("shallow", PretrainSettings(images=64, epochs=1, threads=1))
        out["pretrained_shallow"] = {"digest": _digest(state), "shape_accuracy": accuracy}
    return out


if __name__ == "__main__":
    values = compute()
    text = json.dumps(values, indent=1, sort_keys=True)
    if "--write" in sys.argv:
        GOLDEN.write_text(text + "\n")
    print(text)
