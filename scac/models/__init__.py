"""Models: backbones, necks, patch generators, heads, and the composite models built from them.

The composite models take their parts already built; the model families (``scac.families``)
turn a config into parts and parts into a model.
"""

from scac.models.scac import SCAC, SCACOutput
from scac.models.weights import build_backbone

__all__ = ["SCAC", "SCACOutput", "build_backbone"]
