"""Comparisons kept beside the runs, so a finished study's table prints at once.

A comparison is a pure function of its runs' predictions and the resampling settings, so it is
stored under a hash of them (each run's key with its predictions file's size and modification
time, the metric, interval method, protocol, replicates, coverage, seed, and the results and
cache versions)
in ``comparisons/`` of the artifacts folder. A file that is missing, unreadable or not what this
module writes is ignored and the comparison recomputed: it is data from a shared folder, read as
JSON and checked, never trusted to run anything; a folder that cannot be written only costs time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scac import RESULTS_VERSION
from scac.metrics.variance import METHODS, SeedImageCI

VERSION = 2  # bump when compare_runs computes an interval differently (2: seeds and images)
FOLDER = "comparisons"


def comparison_key(files: list[tuple[str, Path]], settings: dict[str, Any]) -> str | None:
    """Hash of (run key, predictions file) pairs and ``settings``; None when a file is missing."""
    parts: list[Any] = [VERSION, RESULTS_VERSION, sorted(settings.items())]
    for key, path in files:
        try:
            stat = path.stat()
        except OSError:
            return None
        parts.append([key, stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def read(folder: Path, key: str) -> tuple[SeedImageCI, tuple] | None:
    """(interval, seeds) stored under ``key``, or None (absent, unreadable, malformed)."""
    try:
        data = json.loads((folder / f"{key}.json").read_text())
        ci = data["ci"]
        names = ("delta", "low", "high", "confidence", "p_value", "p_improve", "image_variance")
        values = [float(ci[k]) for k in names]
        per_seed = tuple(float(x) for x in ci["per_seed"])
        if not all(math.isfinite(v) for v in (*values, *per_seed)):
            return None
        if not isinstance(ci["metric"], str) or ci["method"] not in METHODS:
            return None
        seeds = tuple(None if s is None else int(s) for s in data["seeds"])
        if len(seeds) != len(per_seed) or not isinstance(ci["seed_variance_known"], bool):
            return None
        delta, low, high, confidence, p_value, p_improve, image_variance = values
        interval = SeedImageCI(
            ci["metric"], ci["method"], delta, low, high, confidence, per_seed, p_value,
            p_improve, int(ci["n_boot"]), ci["seed_variance_known"], image_variance,
        )  # fmt: skip
        return interval, seeds
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(folder: Path, key: str, ci: SeedImageCI, seeds: tuple) -> None:
    """Store a comparison (atomically: a reader sees the whole file or none)."""
    record = {"ci": asdict(ci), "seeds": list(seeds)}
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, folder / f"{key}.json")
    except OSError:  # a read-only or full folder: the next table computes it again
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
