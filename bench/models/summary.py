"""Model summaries from recipes: what would be built, part by part, without any data on disk."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from bench.studies.files import find_recipe, studies_dir
from scac.config import load_recipe
from scac.engine.datasets import num_classes_of
from scac.engine.train import set_frozen
from scac.families import build_model
from scac.models.parameters import (
    PartCount,
    extra_parameter_notes,
    extra_parameter_rows,
    part_counts,
)


@dataclass
class ModelSummary:
    """Parameter counts of a recipe's model.

    Attributes:
        recipe: the recipe's name.
        model: the model's name.
        backbone: its backbone.
        num_classes: classes it was built for.
        parts: parameters per part; ``trainable`` as in the recipe's first phase.
        extra: layers the model adds over its baseline (SRN), with weight shapes.
        notes: how ``extra`` compares with the paper's figure, from the layer sizes.
    """

    recipe: str
    model: str
    backbone: str
    num_classes: int
    parts: list[PartCount]
    extra: list[tuple[str, tuple[int, ...], int]]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.parameters for p in self.parts)


def summarize_recipe(recipe: str, num_classes: int | None = None) -> ModelSummary:
    """Build a recipe's model with random weights and count its parameters.

    Args:
        recipe: recipe name (``studies/recipes/NAME.toml``) or path.
        num_classes: classes to build for; default from the data format (COCO 80, VOC 20...).
    """
    path = find_recipe(recipe, studies_dir())
    cfg = load_recipe(path)
    n = num_classes or num_classes_of(cfg.data)
    if n is None:
        raise ValueError(
            f"cannot tell the number of classes of data.format={cfg.data.format!r}; pass --classes"
        )
    model_cfg = cfg.model
    with torch.device("meta"):  # shapes only: no memory, no initialisation, no weights loaded
        model = build_model(model_cfg, n, {})
    if cfg.train.phases:
        set_frozen(model, cfg.train.phases[0].freeze)
    return ModelSummary(
        path.stem,
        model_cfg.name,
        model_cfg.backbone,
        n,
        part_counts(model),
        extra_parameter_rows(model),
        extra_parameter_notes(model),
    )
