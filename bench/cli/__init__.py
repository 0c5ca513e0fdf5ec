"""The command line (``bench``): one module per command group, each command a thin wrapper over
one library call, importing it inside the command so ``--help`` loads no torch.

May import: every room of ``bench`` (``bench.api``, ``bench.comparisons``, ``bench.models``,
``bench.plots``, ``bench.report``, ``bench.runs``, ``bench.store``, ``bench.studies``,
``bench.sweeps``, ``bench.tables``, ``bench.telemetry``).
"""
