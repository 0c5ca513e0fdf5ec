"""Models: backbones, necks, patch generators, heads, and the composite models built from them.

The composite models take their parts already built; the model families (``scac.families``)
turn a config into parts and parts into a model. The names below load with their module on first
use (PEP 562), so that ``scac.models.names`` (plain data) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {"SCAC": "scac", "SCACOutput": "scac", "build_backbone": "weights"}

__all__ = ["SCAC", "SCACOutput", "build_backbone"]

if TYPE_CHECKING:
    from scac.models.scac import SCAC, SCACOutput
    from scac.models.weights import build_backbone


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scac.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scac.models.{_HOMES[name]}"), name)
