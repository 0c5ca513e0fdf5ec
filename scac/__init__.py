"""scac: the spatial-context-aware network and its peers, as a library.

Data, models, losses, metrics and the training engine, usable from a notebook without the
``bench`` toolkit (which depends on this package, never the reverse).
"""

import sys

from scac import numerics as _numerics

__version__ = "0.1.0"

if "torch" not in sys.modules:  # the default numerics path, set before torch can load
    try:
        _numerics.select()
    except _numerics.NumericsError:
        pass  # a bad $SCAC_NUMERICS: named when a run asks for its path (numerics.mode)

# Bumped whenever a code change alters the numbers a given config produces; part of every run
# key, so results of older code are never mistaken for current ones.
# 2: windowed CPU RoIAlign (same values to float rounding, other last bits)
# 3: SCAC's branches fused in log-odds space and predictions ranked by their logits (scores
#    that round to 1.0 in float32 keep their order); a learnable sigma is no longer
#    weight-decayed and stays positive; the optimiser's no-decay group
# 4: one run key, one result on every x86-64 CPU: the pinned numerics path (scac.numerics: AVX2
#    kernels, MKL's vendor-neutral branch, linear layers on oneDNN) and its name in every key;
#    one thread per run by default; the validation loader's own generator; the synthetic recipe
#    freezes what its pretrained weights cover (CNN, FPN, RPN) in phase 1; the frozen-feature
#    cache fills in training-size batches
RESULTS_VERSION = 4


class RunWarning(UserWarning):
    """Something a run met and worked around, which its record should say (a damaged cache
    rebuilt, an unreadable checkpoint set aside): the toolkit keeps these with the run."""
