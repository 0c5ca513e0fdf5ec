"""What every model family provides, documented once: configs, builder, objective, pretraining.

A *model family* is everything the toolkit knows about one model (SCAC, the ResNet baseline and
its variants, SRN, the latent-context transformer), in one file of ``scac/families``:

* ``config`` and ``loss_config``: the frozen dataclasses of the run config's ``model`` and
  ``loss`` sections (``model.name`` picks the family);
* :meth:`ModelFamily.build`: the model from its section, the class count and the pretrained
  files by part (the one place where that config becomes modules); the model implements the
  one model contract, :class:`scac.models.contract.MultiLabelModel`, so nothing outside the
  family asks it what it is;
* :meth:`ModelFamily.objective`: the loss assembly, ``(output, batch, loss section) -> terms``
  with the weighted sum under ``"total"``; the pure tensor terms live in ``scac.losses``;
* :meth:`ModelFamily.pretrained_parts`: the pretrained parts a run loads, declared as data
  (``scac.engine.assets`` finds, trains on first use, and identifies them);
* :meth:`ModelFamily.check`: constraints between the model section and the rest of the run;
* ``tiny``: the overrides that make the family's model test-sized on 64 px images
  (``scac.testing.tiny_config``);
* ``small``: the overrides that shrink the family's synthetic recipe to test size, its backbone
  kept (``scac.testing.small_overrides``: the golden values and the command-line tests).

Generic code (config parsing, the engine, the toolkit) asks the family, never the config's
attributes by name. A new model is one new file here plus its line in ``scac/families/__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scac.config_fields import Backbone, Reduction, check_fields
from scac.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    from scac.data.batch import Batch
    from scac.models.contract import MultiLabelModel
    from scac.sections import DataConfig


# what a "detector" part holds: the FPN and the region proposal network of a model
DETECTOR_PARTS = ("neck", "object_patches")


@dataclass(frozen=True)
class PretrainedPart:
    """One part of a model loaded from a state-dict file.

    Attributes:
        part: ``backbone``, or ``detector`` (an FPN and a region proposal network).
        source: ``none``, ``imagenet``, ``imagenet-v2``, ``synthetic`` (trained on first use
            from synthetic scenes) or a file path.
        backbone: the backbone the weights belong to.
        shape: what else shapes the weights (a detector's channels and anchors).
        model: for a synthetic detector, ``(backbone file or None) -> model`` whose ``neck``
            and ``object_patches`` parts are trained.
    """

    part: str
    source: str
    backbone: str
    shape: dict[str, Any] = field(default_factory=dict)
    model: Callable[[Path | None], nn.Module] | None = None


@dataclass(frozen=True)
class ModelConfig:
    """What every ``model`` section holds: the family's name and its backbone's weights.

    ``weights``: ``none`` (random), ``imagenet`` / ``imagenet-v2`` (torchvision's, from the
    local hub cache), ``synthetic`` (pretrained once on synthetic shapes) or a file path.
    """

    name: str = ""
    backbone: Backbone = "resnet101"
    weights: str = "none"

    def __post_init__(self) -> None:
        check_fields(self, "model")


@dataclass(frozen=True)
class LossConfig:
    """What every ``loss`` section holds: how the label loss reduces over classes."""

    label_reduction: Reduction = "sum"

    def __post_init__(self) -> None:
        check_fields(self, "loss")


class ModelFamily:
    """One model family (see the module docstring); subclasses set the class attributes."""

    name: ClassVar[str]
    config: ClassVar[type[ModelConfig]]
    loss_config: ClassVar[type[LossConfig]]
    tiny: ClassVar[dict[str, Any]] = {}
    small: ClassVar[dict[str, Any]] = {}

    def build(
        self, cfg: ModelConfig, num_classes: int, pretrained: dict[str, Path] | None = None
    ) -> MultiLabelModel:
        """The model of ``cfg`` for ``num_classes`` labels, with pretrained files by part."""
        raise NotImplementedError

    # A family's methods take its own config classes (subclasses of ModelConfig and
    # LossConfig), so their parameters are typed Any here and precisely in each family.

    def objective(self, output: Any, batch: Batch, settings: Any) -> dict[str, torch.Tensor]:
        """Every weighted loss term of one forward pass, and their sum under ``"total"``."""
        raise NotImplementedError

    def check(self, model: Any, data: DataConfig) -> None:
        """Raise ``ValueError`` naming the keys when the ``model`` section cannot work with the
        run's data (e.g. a model sized for another image size). Nothing to check by default."""

    def pretrained_parts(self, model: Any, data: DataConfig) -> tuple[PretrainedPart, ...]:
        """The pretrained parts the model loads; by default its backbone's ``model.weights``."""
        return (PretrainedPart("backbone", model.weights, model.backbone),)


def check_input_size(model: Any, data: DataConfig) -> None:
    """A model whose layers are sized from its input (SRN's conv4 kernels, the latent-context
    model's spatial tokens) must be sized for the run's images: a mismatch would only fail at
    the first batch, after the data and weights were prepared."""
    if model.input_size != data.image_size:
        raise ValueError(
            f"config key 'model.input_size' ({model.input_size}) must equal 'data.image_size' "
            f"({data.image_size}): model {model.name!r} is sized for its images"
        )


FAMILIES: Registry[ModelFamily] = Registry("model")


def register(family: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: register one instance of ``family`` under its ``name``."""
    FAMILIES.add(family.name, family())
    return family
