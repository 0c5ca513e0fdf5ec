"""Multi-label metrics: pure functions over (N, C) score and target tensors.

``evaluate`` / ``summarize`` compute a protocol's full metric set; ``PROTOCOLS`` holds the
presets (``default``, ``mlgcn``, ``asl``, ``srn``, ``query2label``, ``mmpretrain``,
``torchmetrics``); ``paired_bootstrap`` gives the confidence interval of a difference.

The names below load with their module on first use (PEP 562), so that reading the presets
(``scac.metrics.protocols``, plain data) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_HOMES = {
    "average_precision": "ap",
    "mean_average_precision": "ap",
    "BootstrapCI": "bootstrap",
    "paired_bootstrap": "bootstrap",
    "Evaluation": "evaluation",
    "Evaluator": "evaluation",
    "evaluate": "evaluation",
    "evaluate_file": "evaluation",
    "evaluate_predictions": "evaluation",
    "reduce_ap": "evaluation",
    "PROTOCOLS": "protocols",
    "Protocol": "protocols",
    "get_protocol": "protocols",
    "summarize": "summary",
    "threshold_metrics": "threshold",
    "topk_metrics": "threshold",
}

__all__ = [
    "PROTOCOLS",
    "BootstrapCI",
    "Evaluation",
    "Evaluator",
    "Protocol",
    "average_precision",
    "evaluate",
    "evaluate_file",
    "evaluate_predictions",
    "get_protocol",
    "mean_average_precision",
    "paired_bootstrap",
    "reduce_ap",
    "summarize",
    "threshold_metrics",
    "topk_metrics",
]

if TYPE_CHECKING:
    from scac.metrics.ap import average_precision, mean_average_precision
    from scac.metrics.bootstrap import BootstrapCI, paired_bootstrap
    from scac.metrics.evaluation import (
        Evaluation,
        Evaluator,
        evaluate,
        evaluate_file,
        evaluate_predictions,
        reduce_ap,
    )
    from scac.metrics.protocols import PROTOCOLS, Protocol, get_protocol
    from scac.metrics.summary import summarize
    from scac.metrics.threshold import threshold_metrics, topk_metrics


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scac.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scac.metrics.{_HOMES[name]}"), name)
