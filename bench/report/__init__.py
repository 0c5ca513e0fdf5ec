"""``bench report``: one self-contained HTML page per study or run (tables, figures,
curves, provenance), readable offline.

``page`` assembles a page, ``tables`` and ``figures`` its parts, ``html`` the escaping and
layout helpers they share.

May import: ``scac``, ``bench.studies``, ``bench.store``, ``bench.tables``, ``bench.plots``.
"""
