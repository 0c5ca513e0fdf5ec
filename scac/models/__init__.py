"""Models: backbones, necks, patch generators, heads, and the composite models built from them."""

from scac.models.build import MODELS, build_backbone, build_model
from scac.models.scac import SCAC, SCACOutput

__all__ = ["MODELS", "SCAC", "SCACOutput", "build_backbone", "build_model"]
