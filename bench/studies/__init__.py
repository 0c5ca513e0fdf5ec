"""Studies as data, and the runs of one study: what a question is and which runs answer it.

``files`` reads and checks study files (a question, a recipe, arms, seeds) and finds them in the
user's folder or the toolkit's own (``resources``); ``grids`` writes the product of a few
settings as a study file (``bench run grid``); ``selection`` picks one study's runs (variant,
size, seeds) from the store for every table, plot and exit code.

May import: ``scac`` (configs), ``bench.store``. Nothing else of ``bench``.
"""
