"""Claims on runs: one process takes a run before any work, and only it records the outcome.

:class:`RunClaims` is the part of :class:`bench.store.Store` that moves a run through its
states: claimed (running, with its owner and a heartbeat), then finished, failed, interrupted or
pruned by the claim's holder; a run whose owner died is taken over (see :mod:`bench.store.owner`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bench.store.owner import Owner
from bench.store.parts import StoreParts
from bench.store.records import Claim, LostClaim, StoreError, clean, now, runs, state_of


class RunClaims(StoreParts):
    """Claims and outcomes, for a store with ``_write``, ``engine``, ``display``,
    ``artifacts_dir`` and ``get``."""

    def claim(
        self,
        run_key: str,
        owner: Owner,
        *,
        git_commit: str | None,
        versions: dict[str, str],
        device: str,
        provenance: dict[str, Any] | None = None,
    ) -> Claim:
        """Take a run for ``owner`` unless it is finished or a live process holds it.

        One conditional update (on the status and attempt count just read) makes the claim
        atomic on SQLite and PostgreSQL alike: of two processes that read the same row, one
        update matches and the other finds the row changed and reads it again.
        """
        for _ in range(20):
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(runs).where(runs.c.run_key == run_key)).first()
            if found is None:
                raise KeyError(f"no run {run_key!r} in store {self.display}")
            row: dict[str, Any] = found._asdict()
            if row["status"] == "finished":
                return Claim("finished")
            if row["status"] == "running" and state_of(row) == "running":
                return Claim("held", holder=f"pid {row['owner_pid']} on {row['owner_host']}")
            stamp = now()

            def take(conn: Any, row: dict[str, Any] = row, stamp: Any = stamp) -> int:
                return int(
                    conn.execute(
                        runs.update()
                        .where(
                            (runs.c.run_key == run_key)
                            & (runs.c.status == row["status"])
                            & (runs.c.attempts == row["attempts"])
                        )
                        .values(
                            status="running",
                            attempts=row["attempts"] + 1,
                            error=None,
                            git_commit=git_commit,
                            versions=versions,
                            device=device,
                            host=owner.host,
                            owner_host=owner.host,
                            owner_pid=owner.pid,
                            owner_started=owner.started,
                            owner_token=owner.token,
                            heartbeat_at=stamp,
                            updated_at=stamp,
                            artifacts=str(self.artifacts_dir(run_key)),
                        )
                    ).rowcount
                )

            matched = self._write(take)
            if matched == 1:
                return Claim("claimed", attempt=row["attempts"] + 1)
        raise StoreError(
            f"could not claim run {run_key} in store {self.display}: too much contention"
        )

    def _as_owner(self, run_key: str, owner: Owner, values: dict[str, Any]) -> None:
        """Update the run if ``owner`` still holds it, else raise :class:`LostClaim`."""
        matched = self._write(
            lambda conn: (
                conn.execute(
                    runs.update()
                    .where((runs.c.run_key == run_key) & (runs.c.owner_token == owner.token))
                    .values(**values, updated_at=now())
                ).rowcount
            )
        )
        if matched != 1:
            raise LostClaim(
                f"run {run_key} is no longer held by {owner.describe()} (another process took "
                f"it over when its heartbeat stopped); this attempt's outcome is not recorded"
            )

    def release_stale(self, run_key: str) -> bool:
        """Mark a run whose owner died ``interrupted`` (it stays claimable); True if it was.

        For runs nobody will take over soon (a sweep trial's configuration is not drawn again):
        their record then says what happened instead of looking forever ``stale``.
        """
        run = self.get(run_key)
        if run.state != "stale":
            return False
        matched = self._write(
            lambda conn: (
                conn.execute(
                    runs.update()
                    .where(
                        (runs.c.run_key == run_key)
                        & (runs.c.status == "running")
                        & (runs.c.owner_token == run.owner_token)
                    )
                    .values(
                        status="interrupted",
                        error=f"its process ({run.owner}) died during the run",
                        updated_at=now(),
                    )
                ).rowcount
            )
        )
        return matched == 1

    def heartbeat(self, run_key: str, owner: Owner) -> None:
        """The owner is alive: refresh the run's heartbeat."""
        self._as_owner(run_key, owner, {"heartbeat_at": now()})

    def finish(
        self,
        run_key: str,
        owner: Owner,
        *,
        metrics: dict[str, float],
        per_class_ap: dict[str, float],
        wall_seconds: float,
        protocol: str = "default",
        details: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Mark a run finished with its results, details (skipped images, timings, warnings)
        and provenance (what its numbers depend on: machine, digests of weights and data)."""
        self._as_owner(
            run_key,
            owner,
            {
                "status": "finished",
                "metrics": clean(metrics),
                "per_class_ap": clean(per_class_ap),
                "wall_seconds": wall_seconds,
                "protocol": protocol,
                "details": details or {},
                **({"provenance": provenance} if provenance is not None else {}),
            },
        )

    def fail(
        self,
        run_key: str,
        owner: Owner,
        error: str,
        *,
        status: str = "failed",
        wall_seconds: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Mark a run failed (or interrupted, or pruned by a sweep) with its reason."""
        if status not in ("failed", "interrupted", "pruned"):
            raise ValueError(f"status must be 'failed', 'interrupted' or 'pruned', got {status!r}")
        values: dict[str, Any] = {"status": status, "error": error, "wall_seconds": wall_seconds}
        if details is not None:
            values["details"] = details
        self._as_owner(run_key, owner, values)

    # -- reads ----------------------------------------------------------------------------------
