"""One reading of §3.1 across recipes: the first phase freezes the pretrained CNN, and only it.

"Load and freeze the pre-trained weights of the backbone, and then train the remaining modules"
(SCAC §3.1). Every recipe with a ``frozen`` first phase reads it alike: the CNN, whose weights
are pretrained (ImageNet at full size, synthetic shapes here), is frozen; the FPN and the RPN are
remaining modules and train, whether they start random (full size) or from the synthetic
detector pretraining (an initialisation). docs/readings.md row 7 states the rule and measures
the other readings; this test holds every recipe to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scac.config import load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[2] / "studies" / "recipes").glob("*.toml"))


def _staged(path: Path) -> bool:
    return load_recipe(path).train.phases[0].name == "frozen"


@pytest.mark.parametrize("path", [p for p in RECIPES if _staged(p)], ids=lambda p: p.stem)
def test_the_first_phase_freezes_the_pretrained_cnn_alone(path):
    cfg = load_recipe(path)
    assert cfg.model.weights != "none", f"{path.name}: a frozen phase over a random CNN"
    assert cfg.train.phases[0].freeze == ("backbone",), (
        f"{path.name}: phase 'frozen' freezes {list(cfg.train.phases[0].freeze)}, "
        "not the CNN alone (docs/readings.md row 7)"
    )


def test_the_rule_reaches_the_main_recipes():
    staged = {p.stem for p in RECIPES if _staged(p)}
    assert {"synth", "scac-coco", "scac-coco2017", "scac-voc", "lc-synth"} <= staged
