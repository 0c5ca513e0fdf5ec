"""Registries are strict: duplicates and unknown names raise, listing what is known."""

import pytest

from scac.models.backbones import BACKBONES
from scac.models.pooling import FUSIONS
from scac.registry import Registry


def test_duplicate_and_unknown_names_raise():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.add("a", 2)
    with pytest.raises(ValueError, match=r"unknown widget 'b'; known: a"):
        reg.get("b")
    assert reg.get("a") == 1 and "a" in reg and list(reg) == ["a"]


def test_library_registries_hold_the_ablation_axes():
    assert {"tiny", "resnet101", "resnext101_32x8d"} <= set(BACKBONES.names())
    assert FUSIONS.names() == ["max", "mean", "product"]
