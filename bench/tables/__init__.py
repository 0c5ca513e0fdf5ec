"""The papers' tables regenerated: reported rows (``results/reported``), measured rows beside.

``reported`` reads the transcribed CSVs, ``measured`` maps store runs onto a table's columns,
``build`` assembles and ranks a table, ``formats`` renders it (rich, Markdown, LaTeX, CSV).
``bench.audit`` depends on ``reported`` and ``build`` on the audit, so this package imports
nothing itself: import the module you need.
"""
