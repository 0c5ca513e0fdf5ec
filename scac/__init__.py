"""scac: the spatial-context-aware network and its peers, as a library.

Data, models, losses, metrics and the training engine, usable from a notebook without the
``bench`` toolkit (which depends on this package, never the reverse).
"""

__version__ = "0.1.0"

# Bumped whenever a code change alters the numbers a given config produces; part of every run
# key, so results of older code are never mistaken for current ones.
# 2: windowed CPU RoIAlign (same values to float rounding, other last bits)
# 3: SCAC's branches fused in log-odds space and predictions ranked by their logits (scores
#    that round to 1.0 in float32 keep their order); a learnable sigma is no longer
#    weight-decayed and stays positive; the optimiser's no-decay group
RESULTS_VERSION = 3


class RunWarning(UserWarning):
    """Something a run met and worked around, which its record should say (a damaged cache
    rebuilt, an unreadable checkpoint set aside): the toolkit keeps these with the run."""
