"""scac-bench's toolkit around the ``scac`` library: studies, runs, the results store, tables,
figures, reports and sweeps. Each room is a package whose ``__init__`` says what it is and which
other rooms it may import (``tests/test_layout.py`` holds them to it; ``docs/architecture.md``
draws the map):

``studies`` (study files, grids, one study's runs) and ``store`` (the results database) at the
bottom; ``telemetry`` (curves, TensorBoard) and ``comparisons`` (paired intervals) above them;
``runs`` (plan, claim, train, record, workers), ``tables`` (the papers' tables and a study's),
``plots``, ``report``, ``sweeps`` and ``models`` above those; ``cli`` on top, and ``api`` (the
store as DataFrames, for notebooks) beside it.
"""
