"""Golden values: the pinned numbers of small fixed-seed runs, of the pretraining and of the main
job's smoke study.

A code change that moves any of these numbers changes what a given config produces, so it must
bump ``scac.RESULTS_VERSION`` (old run keys then no longer name the new numbers) and rewrite the
pinned values. A changed default is not such a change: it makes other configs (other keys),
and ``scac_v4_defaults`` pins SCAC under its earlier defaults, set explicitly, at the values
``scac`` had before the change.

``tests/test_golden.py`` runs this module in a fresh process on the default numerics path
(``scac.numerics``: pinned on every x86-64 CPU with AVX2 and FMA), so the values hold on every
such CPU, not only the one that wrote them; the README names the CPUs they were checked on
(``benchmarks/portability.py`` replays them under other CPU vendors and cache sizes).

What is pinned: a tiny run of every model family (one thread); the synthetic backbone's
pretraining (digest of its weights); and ``bench run study context_ratio --smoke`` (every arm,
seed 0, the recipe's own thread count), through the command line's library call.

    python -m tests.golden            # print the values as JSON
    python -m tests.golden --write    # after a deliberate change: rewrite tests/golden.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import scac  # noqa: F401 - first: the default numerics path, set before torch loads
from scac.testing import small_overrides  # noqa: E402 - after scac, as above

GOLDEN = Path(__file__).with_name("golden.json")
ROOT = Path(__file__).resolve().parents[1]

# (recipe, overrides): each family's synthetic recipe, its [smoke], at the family's test size
# (scac.testing.small_overrides), one thread
RECIPES = {
    "scac": "synth",
    "resnet_baseline": "baseline-synth",
    "resnet_semantic": "baseline-synth",
    "srn": "srn-synth",
    "latent_context": "lc-synth",
}
RUNS = {
    name: (recipe, small_overrides(name, {"train.cpu_threads": 1}))
    for name, recipe in RECIPES.items()
}
# SCAC under the defaults before 2026-12-07 (sigma on the logits, one shared trunk), set
# explicitly: the values "scac" pinned until its defaults changed, so a default change is seen
# to change configs, not what a config computes
RUNS["scac_v4_defaults"] = (
    "synth",
    small_overrides(
        "scac",
        {"train.cpu_threads": 1, "model.sigma_reading": "logit", "model.head_trunks": "shared"},
    ),
)
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

    from bench.studies.files import recipe_smoke_overrides
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
        out["context_ratio_smoke"] = _smoke_study(Path(tmp))
    return out


def _smoke_study(tmp: Path) -> dict:
    """``bench run study context_ratio --smoke``'s runs: arm -> run key and metrics."""
    from bench.runs.plan import plan_study
    from bench.runs.execute import run_plan
    from bench.runs.claimed import RunContext
    from bench.store import Store
    from bench.studies.files import load_study

    plan = plan_study(load_study(str(ROOT / "studies" / "context_ratio.toml")), smoke=True)
    store = Store(str(tmp / "store.sqlite"))
    outcome = run_plan(plan, store, RunContext(device="cpu", cache_dir=tmp / "cache"))
    return {
        o.spec.arm: {"run_key": o.run_key, **{m: o.metrics[m] for m in METRICS}}
        for o in outcome.outcomes
    }


if __name__ == "__main__":
    values = compute()
    text = json.dumps(values, indent=1, sort_keys=True)
    if "--write" in sys.argv:
        GOLDEN.write_text(text + "\n")
    print(text)
