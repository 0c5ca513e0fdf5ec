"""How the toolkit's cost grows with the work: planning, the store, and COCO-sized tables.

Printed side by side, each with its growth (the time ratio over the size ratio: about 1 is
linear, well above 1 worse than linear):

1. planning a study of 1, 100 and 1,000 arms (configs checked, run keys computed);
2. ``bench results list``, ``bench table coco --study`` and ``bench report study`` on stores of
   100, 1,000 and 10,000 run records (generated, no training; the study shown is the same
   5 arms x 3 seeds in every store, the other records belong to other studies);
3. a study table over COCO-sized predictions (40,504 images x 80 classes, 5 arms x 3 seeds)
   with its intervals, from a cold comparison cache and again; and the size and load time of
   one such predictions file.

Each command runs in-process (``typer``'s runner), timed from its call; the interpreter's start
and imports (the same for every size, ``benchmarks/cli_startup.py``) are left out.

    python benchmarks/scale.py                 # every part (about 10 minutes on 2 cores)
    python benchmarks/scale.py --parts 1,2     # planning and the store only
    python benchmarks/scale.py --parts 3 --labels-per-image 12   # a denser label set
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# COCO 2014's mean number of distinct categories per image (val2014: about 117,000 positives)
COCO_LABELS_PER_IMAGE = 2.9
CLASSES = ["ball", "plate", "buoy", "kite", "bottle", "clock", "person", "table", "boat"]


def _study_file(folder: Path, name: str, arms: int, seeds: int) -> Path:
    lines = [
        f'question = "How does {name} scale?"',
        'recipe = "synth"',
        f"seeds = {list(range(seeds))}",
        'reference = "arm 0"',
        'metrics = ["mAP", "CF1", "OF1"]',
        'parameter = "model.context_ratio"',
    ]
    for i in range(arms):
        lines += [
            "[[arms]]",
            f'name = "arm {i}"',
            f'reason = "ratio {1 + i / 100:g}"',
            f'set = {{ "model.context_ratio" = {1 + i / 100} }}',
        ]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def _growth(sizes: list[int], seconds: list[float]) -> str:
    """The exponent k of time ~ size^k between the smallest and the largest size."""
    if seconds[0] <= 0 or sizes[0] == sizes[-1]:
        return "-"
    k = math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0])
    return f"{k:.2f} ({'linear or better' if k < 1.15 else 'worse than linear'})"


def planning(folder: Path) -> None:
    from bench.runs.plan import plan_study
    from bench.studies.files import load_study

    sizes, seconds = [1, 100, 1000], []
    print("1. planning a study (configs checked, run keys computed), one seed per arm")
    print(f"{'arms':>8}{'seconds':>10}{'ms per arm':>12}")
    for n in sizes:
        study = load_study(str(_study_file(folder, f"plan{n}", n, 1)))
        t, plan = _timed(plan_study, study)
        assert len(plan.runs) == n
        seconds.append(t)
        print(f"{n:>8}{t:>10.2f}{1000 * t / n:>12.2f}")
    print(f"growth exponent: {_growth(sizes, seconds)}\n")


def _predictions(n: int, classes: list[str], strength: float, seed: int, prevalence: float):
    from scac.predictions import Predictions

    rng = np.random.default_rng(seed)
    targets = (np.random.default_rng(7).random((n, len(classes))) < prevalence).astype(np.uint8)
    logits = (strength * targets + rng.normal(0, 1, targets.shape)).astype(np.float32)
    return Predictions(
        scores=1 / (1 + np.exp(-logits)), targets=targets, mask=np.ones(targets.shape, bool),
        image_ids=np.arange(n), classes=classes, class_groups=[""] * len(classes), logits=logits,
    )  # fmt: skip


def _fill_store(
    path: Path, runs: int, study: str, arms: int, seeds: int, images: int, classes,
    prevalence: float = 0.15,
):  # fmt: skip
    """A store with ``runs`` finished records: the study's arms x seeds (with predictions on
    disk) and the rest in other studies (records only)."""
    import sqlalchemy as sa

    from bench.store import Store
    from bench.store.records import memberships, now
    from bench.store.records import runs as runs_table
    from scac.metrics import summarize

    store = Store(str(path))
    stamp = now()
    rows, members = [], []
    for i in range(runs):
        in_study = i < arms * seeds
        arm, seed = (i // seeds, i % seeds) if in_study else (i % 50, i // 50)
        key = f"{i:016x}"
        metrics, per_class = {"mAP": 50.0 + (i % 7), "CF1": 40.0, "OF1": 45.0}, {}
        if in_study:
            pred = _predictions(images, classes, 1.0 + 0.2 * arm, 100 * arm + seed, prevalence)
            folder = store.artifacts_dir(key)
            folder.mkdir(parents=True, exist_ok=True)
            pred.save(folder / "predictions.npz")
            metrics, per_class = summarize(pred)
        config = {"seed": seed, "data": {"format": "synth"},
                  "model": {"name": "scac", "context_ratio": 1 + arm / 100}}  # fmt: skip
        rows.append({
            "run_key": key, "model": "scac", "status": "finished", "config": config,
            "metrics": metrics, "per_class_ap": per_class, "protocol": "default",
            "wall_seconds": 1.0, "git_commit": "0" * 40, "versions": {}, "device": "cpu",
            "host": "scale", "artifacts": str(store.artifacts_dir(key)), "details": {},
            "provenance": {"numerics": {"path": "pinned-avx2"}}, "attempts": 1,
            "created_at": stamp, "updated_at": stamp,
        })  # fmt: skip
        members.append({
            "study": study if in_study else f"other{i % 20}", "variant": "",
            "arm": f"arm {arm}", "seed": seed, "smoke": False, "run_key": key,
        })  # fmt: skip
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(sa.insert(runs_table), rows[start : start + 2000])
            conn.execute(sa.insert(memberships), members[start : start + 2000])
    return store


def store_commands(folder: Path) -> None:
    from typer.testing import CliRunner

    from bench.cli.main import app

    runner = CliRunner()
    sizes = [100, 1000, 10_000]
    study = _study_file(folder, "scale", 5, 3)
    times: dict[str, list[float]] = {"results list": [], "table --study": [], "report study": []}
    print("2. commands on a store of N finished runs (the study shown: 5 arms x 3 seeds, "
          "500 images x 9 classes; the rest other studies' records)")  # fmt: skip
    print(f"{'runs':>8}" + "".join(f"{name:>18}" for name in times))
    for n in sizes:
        path = folder / f"store{n}" / "s.sqlite"
        _fill_store(path, n, "scale", 5, 3, 500, CLASSES)
        url = str(path)
        commands = {
            "results list": ["results", "list", "--store", url],
            "table --study": ["table", "coco", "--study", str(study), "--store", url],
            "report study": [
                "report",
                "study",
                str(study),
                "--store",
                url,
                "--out",
                str(folder / f"report{n}.html"),
            ],  # fmt: skip
        }
        for name, args in commands.items():
            t, result = _timed(runner.invoke, app, args)
            if result.exit_code != 0:
                sys.exit(f"bench {' '.join(args)} failed: {result.output[-2000:]}")
            times[name].append(t)
        print(f"{n:>8}" + "".join(f"{times[k][-1]:>17.2f}s" for k in times))
    for name, seconds in times.items():
        print(f"growth exponent, {name}: {_growth(sizes, seconds)}")
    print()


def coco_table(folder: Path, labels_per_image: float) -> None:
    from bench.studies.files import load_study
    from bench.studies.selection import study_runs
    from bench.tables.study import study_table
    from scac.predictions import Predictions

    classes = [f"class{i}" for i in range(80)]
    print("3. a study table over COCO-sized predictions (40,504 images x 80 classes, "
          f"{labels_per_image:g} labels per image, 5 arms x 3 seeds)")  # fmt: skip
    start = time.perf_counter()
    store = _fill_store(folder / "coco" / "s.sqlite", 15, "coco", 5, 3, 40_504, classes,
                        labels_per_image / 80)  # fmt: skip
    print(f"   (15 predictions files written in {time.perf_counter() - start:.0f} s)")
    file = store.artifacts_dir(f"{0:016x}") / "predictions.npz"
    t, _ = _timed(Predictions.load, file)
    print(f"one predictions file: {file.stat().st_size / 1e6:.1f} MB, loads in {t:.2f} s")
    study = load_study(str(_study_file(folder, "coco", 5, 3)))
    selected = study_runs(store, study)
    cold, table = _timed(study_table, selected)
    warm, _ = _timed(study_table, study_runs(store, study))
    comparisons = [c for c in table.comparisons.values() if c.ci is not None]
    print(
        f"study table with its {len(comparisons)} intervals (over seeds and images, "
        f"{comparisons[0].ci.n_boot} image resamples): {cold:.1f} s from a cold comparison "
        f"cache, {warm:.2f} s again"
    )
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 1,3")
    ap.add_argument("--labels-per-image", type=float, default=COCO_LABELS_PER_IMAGE,
                    help="part 3's mean positives per image (default: COCO's 2.9)")  # fmt: skip
    args = ap.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    folder = Path(tempfile.mkdtemp(prefix="scale-"))
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; working folder {folder}\n")
    start = time.perf_counter()
    if 1 in parts:
        planning(folder)
    if 2 in parts:
        store_commands(folder)
    if 3 in parts:
        coco_table(folder, args.labels_per_image)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
