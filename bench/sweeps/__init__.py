"""Optuna hyperparameter sweeps over the run layer: resumable, shared by many workers.

``files`` reads sweep files (search space, objective, pruner), ``search`` runs the trials as
claimed runs and tests the best configuration once, ``findings`` reports what a sweep found.

May import: ``scac``, ``bench.studies``, ``bench.store``, ``bench.runs``.
"""
