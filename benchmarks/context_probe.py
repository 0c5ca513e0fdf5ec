"""What can an object patch's own features tell? A linear probe on frozen features.

For every look-alike disk (ball / plate / buoy) of the synthetic benchmark, the frozen,
synthetic-pretrained feature extractor of the default recipe (backbone + FPN) is pooled by
RoIAlign over the disk's box expanded by each ratio, and a logistic regression is cross-validated
on the pooled features. Ratio 1.0 measures how much of the deciding context already leaks into
the tight patch through the receptive field; larger ratios what an explicit context patch adds.

    python benchmarks/context_probe.py [--images 600] [--backbone shallow]

Prints one line per ratio: accuracy (chance = share of the most frequent class).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scac.cache import default_cache_dir
from scac.config import load_recipe, with_overrides
from scac.data.batch import normalize
from scac.data.scenes import SynthParams, render_scene, scene_rng
from scac.engine.assets import pretrained_files
from scac.engine.run import model_and_objective
from scac.models.patches import ExpandPatches

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--backbone", default=None, help="override the recipe's backbone")
    parser.add_argument("--ratios", default="1,2,3,5,7,10")
    args = parser.parse_args()
    cfg = load_recipe(ROOT / "studies" / "recipes" / "synth.toml")
    if args.backbone:
        cfg = with_overrides(cfg, {"model.backbone": args.backbone})
    start = time.perf_counter()
    weights = pretrained_files(cfg, default_cache_dir())
    model = model_and_objective(cfg, 9, weights, torch.device("cpu"))[0].eval()
    params = SynthParams()
    images, boxes, labels = [], [], []
    for i in range(args.images):  # the "test" stream: neither benchmark nor pretraining images
        img, objs = render_scene(scene_rng(0, "test", i), params)
        images.append(torch.from_numpy(img.copy()).permute(2, 0, 1))
        disks = [o for o in objs if o.context is not None]
        boxes.append(torch.tensor([o.box for o in disks], dtype=torch.float32).reshape(-1, 4))
        labels += [o.name for o in disks]
    y = np.array(labels)
    size = [(params.canvas, params.canvas)]
    with torch.no_grad():
        feats = [
            model.neck(model.backbone(normalize(torch.stack(images[s : s + 50]))))
            for s in range(0, len(images), 50)
        ]
        print(
            f"backbone {cfg.model.backbone}, {len(y)} disks, "
            f"chance {np.unique(y, return_counts=True)[1].max() / len(y):.3f}"
        )
        for ratio in (float(r) for r in args.ratios.split(",")):
            pooled = []
            for k, s in enumerate(range(0, len(images), 50)):
                b = ExpandPatches(ratio)(boxes[s : s + 50], size * len(boxes[s : s + 50]))
                pooled.append(model.roi_pool(feats[k], b).flatten(1))
            x = torch.cat(pooled).numpy()
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000))
            acc = cross_val_score(clf, x, y, cv=4).mean()
            print(f"ratio {ratio:>4.1f}: probe accuracy {acc:.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
