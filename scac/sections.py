"""The sections of a run config: data, training phases, optimisation, evaluation.

Frozen dataclasses of primitives, with the paper's settings (§3.1) as defaults. Field types carry
their allowed values (``Literal`` choices, ``Range`` bounds, see ``scac.config_fields``), checked
by :mod:`scac.config` whenever a config is built. The ``model`` and ``loss`` sections belong to
the model families (``scac.families``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from scac.config_fields import (
    NonNegative,
    NonNegativeInt,
    Positive,
    Probability,
    Range,
    Share,
    Unkeyed,
)


@dataclass(frozen=True)
class SynthConfig:
    """Size and seed of the built-in synthetic context benchmark (``scac.data.synth``)."""

    seed: int = 0
    train: Positive = 1000
    val: Positive = 500
    canvas: Positive = 128


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are prepared.

    ``format``: ``synth`` (the built-in benchmark; an empty ``root`` generates the default one in
    the cache), ``coco`` (``root/annotations/instances_{split}.json`` and ``root/{split}/``) or
    ``voc`` (``root`` = ``VOCdevkit/VOC2007``, splits ``trainval`` / ``test``).
    """

    format: Literal["synth", "coco", "voc"] = "synth"
    root: str = ""
    train_split: str = "train"
    val_split: str = "val"
    image_size: Positive = 416
    hflip: bool = True
    keep_empty: bool = True  # COCO: keep images without annotations (82,783 / 40,504 in 2014)
    class_order: Literal["id", "alphabetical"] = "id"  # COCO: id order, or ML-GCN's alphabetical
    crowd: Literal["label", "ignore"] = "label"  # COCO crowd boxes: positive label, box unused
    # VOC difficult-only classes in training, and in evaluation (the VOC protocol ignores them)
    difficult_train: Literal["positive", "negative", "ignore"] = "positive"
    difficult_eval: Literal["positive", "negative", "ignore"] = "ignore"
    skip_bad: bool = False  # skip unreadable images (listed in the run record) instead of failing
    drop_labels: Share = 0.0  # partial-label protocol: share of training labels made unknown
    drop_labels_seed: int = 0
    # model selection (sweeps): share of the training split held out and evaluated instead of
    # val_split, which is then left untouched for the one final test of the chosen configuration
    holdout: Share = 0.0
    holdout_seed: int = 0
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase (paper §3.1: backbone frozen, then joint fine-tuning).

    ``freeze`` lists top-level parts of the model kept fixed in this phase (e.g. ``backbone``).
    """

    name: str = "joint"
    epochs: NonNegativeInt = 1
    lr: NonNegative = 0.002
    momentum: Probability = 0.5
    weight_decay: NonNegative = 0.01
    freeze: tuple[str, ...] = ()
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: NonNegativeInt = 0
    # a learning-rate decay per step on top of the schedule, lr / (1 + lr_decay * step) (Keras's
    # SGD "decay"): a reading of §3.1's "decay rate of 0.01"; 0 = none
    lr_decay: Annotated[float, Range(low=0.0), Unkeyed(0.0)] = 0.0
    # names of the (weighted) loss terms this phase optimises; empty = all of them (the total)
    loss_terms: tuple[str, ...] = ()


def _paper_phases() -> tuple[PhaseConfig, ...]:
    return (PhaseConfig(name="frozen", epochs=1, freeze=("backbone",)), PhaseConfig(name="joint"))


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: SGD with the paper's settings (§3.1) as defaults."""

    batch_size: Positive = 2
    eval_batch_size: Positive = 8
    phases: tuple[PhaseConfig, ...] = field(default_factory=_paper_phases)
    grad_clip: NonNegative = 0.0  # max gradient norm; 0 = off
    amp: Literal["none", "bf16", "fp16"] = "none"  # mixed precision on GPUs
    channels_last: bool = False  # NHWC memory format (faster convolutions on recent GPUs)
    # intra-op threads of a run on the CPU: the count changes the numbers (it splits the sums of
    # convolutions and matrix products differently), so it is fixed per run and part of its key,
    # whatever the machine's cores or the number of workers sharing them
    cpu_threads: Positive = 1


@dataclass(frozen=True)
class EvalConfig:
    """How predictions are scored when a run finishes (the store keeps them for re-scoring)."""

    threshold: Probability = 0.5
