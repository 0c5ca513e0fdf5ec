"""The papers' tables regenerated: reported rows (``results/reported``), measured rows beside.

``reported`` reads the transcribed CSVs, ``audit`` checks that their numbers add up,
``measured`` maps store runs onto a table's columns, ``build`` assembles and ranks a table with
the audit's marks, ``formats`` renders it (rich, Markdown, LaTeX, CSV), and ``study`` makes a
study's own table (arm x metric). Import the module you need.

May import: ``scac``, ``bench.studies``, ``bench.store``, ``bench.comparisons``.
"""
