"""Model families: one file per model, one registry (see :mod:`scac.families.base`).

``FAMILIES`` maps ``model.name`` to its family. A new model is a new file in this package and
one line below, or a package of its own that declares a ``scac_bench.families`` entry point
(:mod:`scac.families.plugins`, loaded here once the built-in families are registered).
"""

from scac.families import baseline, latent_context, spatial_context, srn  # noqa: F401 - register
from scac.families.base import (
    FAMILIES,
    LossConfig,
    ModelConfig,
    ModelFamily,
    PretrainedPart,
    register,
)
from scac.families.plugins import ORIGINS, load_plugins

load_plugins()


def family(name: str) -> ModelFamily:
    """The family registered under ``name``; an unknown name lists the known ones."""
    return FAMILIES.get(name)


def build_model(cfg: ModelConfig, num_classes: int, pretrained: dict | None = None):
    """The model of a ``model`` config section, with pretrained state-dict files by part."""
    from scac.models.contract import check_model

    return check_model(FAMILIES.get(cfg.name).build(cfg, num_classes, pretrained), cfg.name)


__all__ = [
    "FAMILIES",
    "LossConfig",
    "ORIGINS",
    "ModelConfig",
    "ModelFamily",
    "PretrainedPart",
    "build_model",
    "family",
    "register",
]
