"""Paired comparisons of runs: each arm against its reference, with an interval that counts
seeds as well as images.

``paired`` computes them (over the runs' saved predictions, every arm's resamples in one thread
per core); ``cache`` keeps them beside the runs, keyed by what they were computed from.

May import: ``scac`` (metrics, predictions), ``bench.store``.
"""
