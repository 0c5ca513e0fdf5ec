"""The names of the ablation axes' registries, as plain data: what a config may name.

A config is checked (every value of a registered kind must name an entry) when a study is
planned, and planning loads no torch; the registries themselves live beside their torch code
(``scac.models.backbones``, ``scac.models.pooling``) and are checked against these names when
they load (:func:`scac.config_fields.Registered`), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

# scac.models.backbones.BACKBONES: ours, then torchvision's residual networks
BACKBONES = ("tiny", "shallow", "resnet18", "resnet50", "resnet101", "resnext50_32x4d",
             "resnext101_32x8d")  # fmt: skip
# scac.models.pooling
PATCH_SCORES = ("labels", "objectness", "objectness-detached", "objectness-filter")
AGGREGATIONS = ("max", "mean", "lse", "topk")
FUSIONS = ("mean", "max", "product")
# scac.models.patches
CONTEXT_PATCHES = ("expand", "expand-shifted", "expand-area")
