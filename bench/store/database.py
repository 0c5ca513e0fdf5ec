"""The results store: one record per run, in any SQLAlchemy database (SQLite by default).

Tables:

* ``runs``: one row per run key (a hash of the resolved config, see
  ``scac.engine.run_identity``): status (``pending`` / ``running`` / ``finished`` / ``failed``
  / ``interrupted`` / ``pruned``), resolved config, metrics, per-class AP, wall time, git commit,
  package versions, device, host, provenance (machine, weights and data digests), error text,
  attempts, and the owner of the current attempt (host, pid, start time, token, heartbeat).
* ``memberships``: which study, variant, arm, seed and size (smoke or not) asks for which run
  key. Two studies that ask for the same configuration share one run. A study run with ``--set``
  is a *variant* of the study (``variants``: its name and overrides), kept beside the plain
  study (variant ``""``), never replacing its members.

A run is claimed before any work (:meth:`Store.claim`): one conditional update moves it from
pending, failed, interrupted or pruned (or running, when its owner is dead, see
:mod:`bench.store.owner`) to running, so two processes never train the same run. Only the claim's
holder records the outcome. Every write is one transaction, so a process killed mid-way leaves
the store consistent: its run stays ``running`` with a dead owner, listed as ``stale``, and is
taken over by the next process that wants it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from bench.store.claims import RunClaims
from bench.store.history import RunHistory
from bench.store.records import (
    RUN_KEY,
    RunRecord,
    StoreError,
    check_run_key,
    default_store_url,
    masked_url,
    memberships,
    metadata,
    migrate,
    now,
    runs,
    state_of,
    to_url,
    variants,
)
from bench.store.states import STATES


class Store(RunClaims, RunHistory):
    """Read and write run records.

    Args:
        store: an SQLAlchemy URL (``postgresql+psycopg://...``) or a path to an SQLite file.
        artifacts_root: folder of the per-run artifact folders; default ``$BENCH_ARTIFACTS``,
            else ``runs/`` beside an SQLite file, else ``results/runs``.
        create: create the store when it does not exist (commands that write); False for
            commands that only read, which then fail naming the store instead of creating an
            empty one.
    """

    def __init__(
        self,
        store: str | None = None,
        artifacts_root: str | Path | None = None,
        *,
        create: bool = True,
    ) -> None:
        self.url = to_url(store or default_store_url())
        url = make_url(self.url)
        self.display = masked_url(self.url)
        self.artifacts_root = (
            Path(artifacts_root) if artifacts_root else self.artifacts_root_for(store)
        )
        self.readonly = False
        if url.get_backend_name() == "sqlite" and url.database:
            path = Path(url.database)
            if not create and not path.is_file():
                raise StoreError(
                    f"no results store at {path}: give the right --store (or $BENCH_STORE), "
                    "or run a study first"
                )
            # a command that only reads, on a folder it cannot write (a read-only file system, a
            # colleague's store): SQLite's write-ahead log would need its -shm file there, so
            # the file is opened immutable, as the finished record it is
            self.readonly = not create and not os.access(path.parent, os.W_OK)
            if self.readonly:
                self.url = f"sqlite:///file:{path.resolve()}?mode=ro&immutable=1&uri=true"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"cannot create the store's folder {path.parent}: {err.strerror}"
                ) from None
            if create and (
                not os.access(path.parent, os.W_OK)
                or (path.exists() and not os.access(path, os.W_OK))
            ):
                raise StoreError(f"store {path} is not writable")
        self.engine = self._connect(create)

    @staticmethod
    def artifacts_root_for(store: str | None) -> Path:
        """Default artifacts folder: ``runs/`` beside an SQLite file, else ``$BENCH_ARTIFACTS``."""
        if os.environ.get("BENCH_ARTIFACTS"):
            return Path(os.environ["BENCH_ARTIFACTS"])
        url = make_url(to_url(store or default_store_url()))
        if url.get_backend_name() == "sqlite" and url.database:
            return Path(url.database).parent / "runs"
        return Path("results/runs").resolve()

    def _connect(self, create: bool) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        try:
            engine = sa.create_engine(self.url, **kwargs)
        except Exception as err:  # noqa: BLE001 - bad URL or missing driver
            raise StoreError(f"cannot open store {self.display}: {err}") from None
        if engine.dialect.name == "sqlite" and not self.readonly:

            @sa.event.listens_for(engine, "connect")
            def _pragmas(conn, _record) -> None:  # pragma: no cover - exercised via every test
                cur = conn.cursor()
                # the wait first: turning on the write-ahead log takes a lock another process
                # creating the same store may hold, and without it that fails at once
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        for attempt in range(5):
            try:
                if not create and "runs" not in sa.inspect(engine).get_table_names():
                    raise StoreError(f"store {self.display} holds no results (no 'runs' table)")
                if not self.readonly:
                    metadata.create_all(engine)
                    migrate(engine)
                return engine
            except sa.exc.SQLAlchemyError as err:
                # two processes creating a new store at once: the loser finds the tables the
                # winner made ("already exists"), or the file locked while the winner turns on
                # its write-ahead log ("database is locked"), and looks again
                text = str(err).lower()
                if attempt < 4 and ("already exists" in text or "database is locked" in text):
                    time.sleep(0.1 * (attempt + 1))
                    continue
                raise StoreError(
                    f"cannot open store {self.display}: {err.__class__.__name__}: "
                    f"{getattr(err, 'orig', err)}"
                ) from None
        return engine

    def _write(self, statement_fn) -> Any:
        try:
            with self.engine.begin() as conn:
                return statement_fn(conn)
        except sa.exc.OperationalError as err:
            raise StoreError(f"cannot write to store {self.display}: {err.orig}") from None

    def _insert_once(self, statement_fn) -> Any:
        """``_write`` for a transaction that reads, then inserts what it did not find: when
        another process inserts the same row in between (two commands on one store), the
        insert fails on the key and the transaction is run again, now finding the row."""
        for _ in range(5):
            try:
                return self._write(statement_fn)
            except sa.exc.IntegrityError:
                continue
        raise StoreError(f"cannot write to store {self.display}: a row keeps colliding")

    # -- study membership -----------------------------------------------------------------------

    def record_variant(self, study: str, variant: str, overrides: dict[str, Any]) -> None:
        """Record a named variant of ``study`` and its overrides; a name is never reused.

        Raises:
            ValueError: ``variant`` exists with other overrides (both are named).
        """

        def do(conn) -> None:
            key = (variants.c.study == study) & (variants.c.variant == variant)
            known = conn.execute(sa.select(variants.c.overrides).where(key)).scalar()
            if known is None:
                conn.execute(
                    variants.insert().values(
                        study=study, variant=variant, overrides=overrides, created_at=now()
                    )
                )
            elif known != overrides:
                raise ValueError(
                    f"variant {variant!r} of study {study!r} was recorded with overrides "
                    f"{known}, not {overrides}: choose another --variant name"
                )

        self._insert_once(do)

    def link(
        self,
        study: str,
        arm: str,
        seed: int,
        run_key: str,
        model: str,
        config: dict,
        smoke: bool = False,
        variant: str = "",
    ) -> str | None:
        """Record that a study (variant) arm and seed asks for ``run_key``, creating its run row.

        Returns:
            The run key it asked for before, when that differs (the study's file or recipe
            changed); None otherwise.
        """
        check_run_key(run_key)

        def do(conn) -> str | None:
            if (
                conn.execute(sa.select(runs.c.run_key).where(runs.c.run_key == run_key)).first()
                is None
            ):
                stamp = now()
                conn.execute(
                    runs.insert().values(
                        run_key=run_key,
                        model=model,
                        status="pending",
                        config=config,
                        attempts=0,
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
            key = (
                (memberships.c.study == study)
                & (memberships.c.variant == variant)
                & (memberships.c.arm == arm)
                & (memberships.c.seed == seed)
                & (memberships.c.smoke == smoke)
            )
            before = conn.execute(sa.select(memberships.c.run_key).where(key)).scalar()
            if before is None:
                conn.execute(
                    memberships.insert().values(
                        study=study,
                        variant=variant,
                        arm=arm,
                        seed=seed,
                        smoke=smoke,
                        run_key=run_key,
                    )  # fmt: skip
                )
                return None
            if before != run_key:
                conn.execute(memberships.update().where(key).values(run_key=run_key))
                return before
            return None

        return self._insert_once(do)

    # -- claims and outcomes --------------------------------------------------------------------

    def artifacts_dir(self, run_key: str) -> Path:
        """The folder holding a run's predictions, checkpoint and logs, inside the root."""
        check_run_key(run_key)
        return self.artifacts_root / run_key

    def get(self, run_id: str) -> RunRecord:
        """The run whose key is ``run_id`` or starts with it (a unique prefix, as git)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs).where(runs.c.run_key.startswith(run_id, autoescape=True))
            ).all()
        exact = [r for r in rows if r.run_key == run_id]
        if exact:
            rows = exact
        if not rows:
            raise KeyError(f"no run {run_id!r} in store {self.display}")
        if len(rows) > 1:
            raise KeyError(
                f"run id {run_id!r} is ambiguous in store {self.display}: "
                f"{', '.join(r.run_key for r in rows[:5])}"
            )
        return RunRecord(**self._confine(rows[0]._asdict()))

    def _confine(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with ``artifacts`` pointing into this store's artifacts root.

        The text a writer recorded is where *its* host put the files; readers use their own
        root, and a crafted row (``../`` in a key, an absolute path) never sends them elsewhere.
        """
        if row.get("artifacts") is not None:
            valid = isinstance(row["run_key"], str) and RUN_KEY.fullmatch(row["run_key"])
            row["artifacts"] = str(self.artifacts_root / row["run_key"]) if valid else None
        return row

    def status(self, run_key: str) -> str | None:
        """A run's status, or None if the store has never heard of it."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(runs.c.status).where(runs.c.run_key == run_key)).scalar()

    def studies(self) -> list[tuple[str, str]]:
        """Every (study, variant) the store holds members of."""
        q = sa.select(memberships.c.study, memberships.c.variant).distinct()
        with self.engine.connect() as conn:
            return sorted((r.study, r.variant) for r in conn.execute(q))

    def variant_overrides(self, study: str) -> dict[str, dict[str, Any]]:
        """Variant name -> its overrides, for every recorded variant of ``study``."""
        q = sa.select(variants.c.variant, variants.c.overrides).where(variants.c.study == study)
        with self.engine.connect() as conn:
            return {r.variant: r.overrides for r in conn.execute(q)}

    def list_runs(
        self,
        study: str | None = None,
        status: str | None = None,
        *,
        variant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of runs joined with their study memberships (a run without one has study None).

        Each row carries ``state``: its status, or ``stale`` for a running run whose owner is
        dead. ``status`` filters on that state.

        Raises:
            ValueError: an unknown status, or a study (variant) the store holds no member of.
        """
        if status is not None and status not in STATES:
            raise ValueError(f"unknown status {status!r}; known: {', '.join(STATES)}")
        if study is not None:
            self._check_study(study, variant)
        j = runs.outerjoin(memberships, memberships.c.run_key == runs.c.run_key)
        cols = [memberships.c.study, memberships.c.variant, memberships.c.arm]
        q = sa.select(runs, *cols, memberships.c.seed, memberships.c.smoke).select_from(j)
        if study is not None:
            q = q.where(memberships.c.study == study)
        if variant is not None:
            q = q.where(memberships.c.variant == variant)
        q = q.order_by(runs.c.created_at, *cols, memberships.c.seed)
        with self.engine.connect() as conn:
            rows = [self._confine(dict(r._mapping)) for r in conn.execute(q)]
        for r in rows:
            r["state"] = state_of(r)
        return [r for r in rows if status is None or r["state"] == status]

    def _check_study(self, study: str, variant: str | None) -> None:
        known = self.studies()
        if (study, variant) in known or (variant is None and study in {s for s, _ in known}):
            return
        names = sorted({s for s, _ in known})
        if study in names:
            mine = sorted(v or "(plain)" for s, v in known if s == study)
            raise ValueError(
                f"study {study!r} has no variant {variant!r} in store {self.display}; "
                f"its variants: {', '.join(mine)}"
            )
        raise ValueError(
            f"no run of study {study!r} in store {self.display}; "
            f"studies there: {', '.join(names) or '(none)'}"
        )
