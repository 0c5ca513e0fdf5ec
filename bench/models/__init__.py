"""What a recipe builds: parameter counts per part (``bench model summary``).

May import: ``scac``, ``bench.studies``.
"""
