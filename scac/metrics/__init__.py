"""Multi-label metrics: pure functions over (N, C) score and target tensors.

``evaluate`` / ``summarize`` compute a protocol's full metric set; ``PROTOCOLS`` holds the
presets (``default``, ``mlgcn``, ``asl``, ``srn``, ``query2label``, ``mmpretrain``,
``torchmetrics``); ``paired_bootstrap`` gives the confidence interval of a difference.
"""

from scac.metrics.ap import average_precision, mean_average_precision
from scac.metrics.bootstrap import BootstrapCI, paired_bootstrap
from scac.metrics.evaluate import (
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
