"""Figures a paper would print: per-class AP gains, study curves, precision-recall curves,
training curves, and SCAC's patches on an image (SRN's attention maps).

``figures`` holds the shared ``Plot`` (a figure and the data it drew) and the study and VOC
figures; ``pr``, ``curves`` and ``patches`` one kind each.

May import: ``scac``, ``bench.studies``, ``bench.store``, ``bench.tables``, ``bench.telemetry``.
"""
