"""Shapes as data: each feature map a part publishes, so the next part is sized from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    """One feature map: its key in the output dict, channels, and stride w.r.t. the input."""

    name: str
    channels: int
    stride: int


def check_stage(stage: str, stages: tuple[str, ...]) -> None:
    """Raise unless ``stage`` is one of the model's ``cacheable_stages``."""
    if stage not in stages:
        raise ValueError(f"unknown stage {stage!r}; known: {stages}")
