"""Training curves in the store: the losses, learning rate, gradient norm, speed and validation
metrics of every run, as it trains.

``history`` holds one row per (run, attempt, step, name): a value logged at that optimiser step
(``step`` counts the run's steps from 1; epoch-level values carry the epoch's last step). Rows
are written at the end of every epoch, so an interrupted run keeps its curve up to its last
epoch. A run started afresh drops its earlier attempts' rows; a resumed one keeps them, and a
reader takes, per step and name, the latest attempt's value (:meth:`RunHistory.history`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bench.store.parts import StoreParts
from bench.store.records import metadata

history = sa.Table(
    "history",
    metadata,
    sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.run_key"), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
)


class RunHistory(StoreParts):
    """Curves, for a store with ``_write`` and ``engine``."""

    def add_history(self, run_key: str, attempt: int, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (``step``, ``name``, ``epoch``, ``phase``, ``value``) to a run's
        attempt, in one transaction; a row logged again for the same step replaces the old."""
        if not rows:
            return
        values = [{**r, "run_key": run_key, "attempt": attempt} for r in rows]
        keys = {(r["step"], r["name"]) for r in rows}

        def do(conn) -> None:
            old = conn.execute(
                sa.select(history.c.step, history.c.name).where(
                    (history.c.run_key == run_key) & (history.c.attempt == attempt)
                )
            ).all()
            again = [(s, n) for s, n in old if (s, n) in keys]
            for step, name in again:  # a resumed epoch logs its steps again
                conn.execute(
                    history.delete().where(
                        (history.c.run_key == run_key)
                        & (history.c.attempt == attempt)
                        & (history.c.step == step)
                        & (history.c.name == name)
                    )
                )
            conn.execute(history.insert(), values)

        self._write(do)

    def drop_history(self, run_key: str, before_attempt: int) -> None:
        """Forget the rows of a run's attempts before ``before_attempt`` (it starts afresh)."""
        self._write(
            lambda conn: conn.execute(
                history.delete().where(
                    (history.c.run_key == run_key) & (history.c.attempt < before_attempt)
                )
            )
        )

    def history(self, run_keys: list[str]) -> list[dict[str, Any]]:
        """Every logged value of ``run_keys``: per run, step and name the latest attempt's, as
        rows ``run_key, step, epoch, phase, name, value`` ordered by run, name and step."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(history)
                .where(history.c.run_key.in_(run_keys))
                .order_by(history.c.run_key, history.c.name, history.c.step, history.c.attempt)
            ).all()
        latest: dict[tuple, dict[str, Any]] = {}
        for r in rows:  # ordered by attempt last: a later attempt overwrites
            latest[r.run_key, r.name, r.step] = {
                "run_key": r.run_key,
                "step": r.step,
                "epoch": r.epoch,
                "phase": r.phase,
                "name": r.name,
                "value": r.value,
            }
        return list(latest.values())
