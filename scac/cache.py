"""Where the library keeps what it generates once and reuses: datasets, pretrained weights."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$SCAC_CACHE`` if set, else ``$XDG_CACHE_HOME/scac`` (``~/.cache/scac``)."""
    if os.environ.get("SCAC_CACHE"):
        return Path(os.environ["SCAC_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "scac"
