"""Multi-label metrics: pure functions over (N, C) score and target tensors."""

from scac.metrics.ap import average_precision, mean_average_precision
from scac.metrics.summary import summarize
from scac.metrics.threshold import threshold_metrics

__all__ = ["average_precision", "mean_average_precision", "summarize", "threshold_metrics"]
