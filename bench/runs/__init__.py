"""The run layer: plan a study's runs, claim each in the store, train it once, record it.

``plan`` turns a study (or a recipe) into run specs with their keys; ``execute`` runs a plan
here, one claimed run after another; ``claimed`` is one run's life (claim, heartbeat, train,
record, or say why not); ``parallel``, ``queue`` and ``workers`` share a plan among processes
and hosts through an Optuna storage; ``provenance`` says what a run's numbers depend on;
``progress`` draws it all (rich bars, or plain lines off a terminal).

May import: ``scac``, ``bench.studies``, ``bench.store``, ``bench.telemetry``.
"""
