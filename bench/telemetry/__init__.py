"""What a run logs while it trains, and where it goes: the store's history, TensorBoard.

``history`` records each run's curves in the store (one base, ``LoggedValues``, for every
writer); ``tensorboard`` writes the same values as event files, live or exported; ``curves``
summarises a curve (first, best, last) for ``bench results show``.

May import: ``scac`` (the callbacks), ``bench.studies``, ``bench.store``.
"""
