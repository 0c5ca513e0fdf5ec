"""What differs between two runs: config, code, machine, inputs and results, key by key.

Two runs with other numbers differ somewhere: in their config (then their keys differ too), in
the code (commit, package versions), or below the config, in what the run records as its
provenance: the machine's numerics (CPU, instruction set, thread count, oneDNN and MKL versions),
the digests of the pretrained weights it loaded and of the data it read. ``bench results diff``
lists every such difference, then the metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.store import RunRecord


@dataclass(frozen=True)
class Difference:
    """One key whose value differs between two runs.

    Attributes:
        section: ``config``, ``code``, ``provenance``, ``metrics`` or ``record``.
        key: the dotted key within the section.
        a: the first run's value (None when absent).
        b: the second run's value.
    """

    section: str
    key: str
    a: Any
    b: Any


def flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists of dicts as dotted keys to leaf values."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            out.update(flat(v, f"{prefix}.{i}"))
    else:
        out[prefix] = value
    return out


def _compare(section: str, a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    fa, fb = flat(a), flat(b)
    return [
        Difference(section, k, fa.get(k), fb.get(k))
        for k in sorted(set(fa) | set(fb))
        if fa.get(k) != fb.get(k)
    ]


def diff_runs(a: RunRecord, b: RunRecord) -> list[Difference]:
    """Every difference between two run records, section by section (metrics last)."""
    code = (
        {
            "git_commit": a.git_commit,
            "versions": a.versions or {},
        },
        {
            "git_commit": b.git_commit,
            "versions": b.versions or {},
        },
    )
    record = (
        {"status": a.status, "device": a.device, "host": a.host, "protocol": a.protocol},
        {"status": b.status, "device": b.device, "host": b.host, "protocol": b.protocol},
    )
    return [
        *_compare("config", a.config or {}, b.config or {}),
        *_compare("code", *code),
        *_compare("provenance", a.provenance or {}, b.provenance or {}),
        *_compare("record", *record),
        *_compare("metrics", a.metrics or {}, b.metrics or {}),
    ]


def shown(value: Any) -> str:
    """A value as a table cell: a float as written (``1.0``) or to 6 significant digits, a
    string as it is, the rest as JSON."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return text if len(text := repr(value)) <= 9 else f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)
