"""What the toolkit records about the code a run ran with: the commit and package versions."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from pathlib import Path

import scac


@cache
def git_commit() -> str | None:
    """The commit of the code that runs, with ``-dirty`` when the tree has changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str]:
    """Versions of what decides the numbers (loads torch: a run that records them trains)."""
    import numpy as np
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "scac": scac.__version__,
        "results_version": str(scac.RESULTS_VERSION),
    }
