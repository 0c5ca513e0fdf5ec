"""The results store: one record per run, in any SQLAlchemy database (SQLite by default).

Tables:

* ``runs``: one row per run key (a hash of the resolved config, see
  ``scac.engine.run_identity``): status (``pending`` / ``running`` / ``finished`` / ``failed``
  / ``interrupted``), resolved config, metrics, per-class AP, wall time, git commit, package
  versions, device, host, error text, attempts, artifacts folder.
* ``members``: which study, arm and seed asked for which run key. Two studies that ask for the
  same configuration share one run.

Every write is one transaction, so a process killed mid-way leaves the store consistent; a run
it was doing stays ``running`` (or becomes ``interrupted`` on Ctrl-C) and is redone next time.
Predictions and checkpoints live in a per-run artifacts folder beside the database.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

STATUSES = ("pending", "running", "finished", "failed", "interrupted", "pruned")

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_key", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON),
    sa.Column("per_class_ap", sa.JSON),
    sa.Column("protocol", sa.String(32)),
    sa.Column("wall_seconds", sa.Float),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("versions", sa.JSON),
    sa.Column("device", sa.String(32)),
    sa.Column("host", sa.String(255)),
    sa.Column("error", sa.Text),
    sa.Column("artifacts", sa.Text),
    sa.Column("details", sa.JSON),  # skipped images, world size, timings, sweep trial...
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("study", sa.String(200), primary_key=True),
    sa.Column("arm", sa.String(200), primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("smoke", sa.Boolean, primary_key=True),
    sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.run_key"), nullable=False, index=True),
)


def _add_missing_columns(engine: Engine) -> None:
    """Bring a store written by an older version up to date: add the columns it lacks."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(engine.dialect)
                with engine.begin() as conn:
                    conn.execute(
                        sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message names the database."""


@dataclass
class RunRecord:
    """One row of ``runs`` as plain Python values."""

    run_key: str
    model: str
    status: str
    config: dict[str, Any]
    metrics: dict[str, float | None] | None
    per_class_ap: dict[str, float | None] | None
    protocol: str | None
    wall_seconds: float | None
    git_commit: str | None
    versions: dict[str, str] | None
    device: str | None
    host: str | None
    error: str | None
    artifacts: str | None
    details: dict[str, Any] | None
    attempts: int
    created_at: datetime
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(values: dict[str, float] | None) -> dict[str, float | None] | None:
    """NaN is not JSON (PostgreSQL refuses it): store it as null."""
    if values is None:
        return None
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()
    }


def masked_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: show it as given
        return url


def default_store_url() -> str:
    """``$BENCH_STORE`` if set, else ``results/store.sqlite`` under the working directory."""
    return os.environ.get("BENCH_STORE") or "results/store.sqlite"


def to_url(store: str) -> str:
    """A plain path becomes an SQLite URL; URLs pass through."""
    return store if "://" in store else f"sqlite:///{Path(store).expanduser().resolve()}"


class Store:
    """Read and write run records.

    Args:
        store: an SQLAlchemy URL (``postgresql+psycopg://...``) or a path to an SQLite file.
        artifacts_root: folder of the per-run artifact folders; default ``$BENCH_ARTIFACTS``,
            else ``runs/`` beside an SQLite file, else ``results/runs``.
    """

    def __init__(self, store: str | None = None, artifacts_root: str | Path | None = None) -> None:
        self.url = to_url(store or default_store_url())
        url = make_url(self.url)
        self.display = masked_url(self.url)
        self.artifacts_root = (
            Path(artifacts_root) if artifacts_root else self.artifacts_root_for(store)
        )
        if url.get_backend_name() == "sqlite" and url.database:
            path = Path(url.database)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"cannot create the store's folder {path.parent}: {err.strerror}"
                ) from None
            if not os.access(path.parent, os.W_OK) or (
                path.exists() and not os.access(path, os.W_OK)
            ):
                raise StoreError(f"store {path} is not writable")
        self.engine = self._connect()

    @staticmethod
    def artifacts_root_for(store: str | None) -> Path:
        """Default artifacts folder: ``runs/`` beside an SQLite file, else ``$BENCH_ARTIFACTS``."""
        if os.environ.get("BENCH_ARTIFACTS"):
            return Path(os.environ["BENCH_ARTIFACTS"])
        url = make_url(to_url(store or default_store_url()))
        if url.get_backend_name() == "sqlite" and url.database:
            return Path(url.database).parent / "runs"
        return Path("results/runs").resolve()

    def _connect(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        try:
            engine = sa.create_engine(self.url, **kwargs)
        except Exception as err:  # noqa: BLE001 - bad URL or missing driver
            raise StoreError(f"cannot open store {self.display}: {err}") from None
        if engine.dialect.name == "sqlite":

            @sa.event.listens_for(engine, "connect")
            def _pragmas(conn, _record) -> None:  # pragma: no cover - exercised via every test
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        try:
            metadata.create_all(engine)
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(
                f"cannot open store {self.display}: {err.__class__.__name__}: {err.orig}"
            ) from None
        return engine

    def _write(self, statement_fn) -> None:
        try:
            with self.engine.begin() as conn:
                statement_fn(conn)
        except sa.exc.OperationalError as err:
            raise StoreError(f"cannot write to store {self.display}: {err.orig}") from None

    # -- writes ---------------------------------------------------------------------------------

    def link(
        self,
        study: str,
        arm: str,
        seed: int,
        run_key: str,
        model: str,
        config: dict,
        smoke: bool = False,
    ) -> None:
        """Record that ``study``/``arm``/``seed`` asks for ``run_key`` (creating the run row)."""

        def do(conn) -> None:
            if (
                conn.execute(sa.select(runs.c.run_key).where(runs.c.run_key == run_key)).first()
                is None
            ):
                now = _now()
                conn.execute(
                    runs.insert().values(
                        run_key=run_key,
                        model=model,
                        status="pending",
                        config=config,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            key = (
                (members.c.study == study)
                & (members.c.arm == arm)
                & (members.c.seed == seed)
                & (members.c.smoke == smoke)
            )
            if conn.execute(sa.select(members.c.run_key).where(key)).first() is None:
                conn.execute(
                    members.insert().values(
                        study=study, arm=arm, seed=seed, smoke=smoke, run_key=run_key
                    )
                )
            else:
                conn.execute(members.update().where(key).values(run_key=run_key))

        self._write(do)

    def start(
        self, run_key: str, *, git_commit: str | None, versions: dict[str, str], device: str
    ) -> None:
        """Mark a run as running (one more attempt)."""
        self._write(
            lambda conn: conn.execute(
                runs.update()
                .where(runs.c.run_key == run_key)
                .values(
                    status="running",
                    attempts=runs.c.attempts + 1,
                    error=None,
                    git_commit=git_commit,
                    versions=versions,
                    device=device,
                    host=socket.gethostname(),
                    updated_at=_now(),
                    artifacts=str(self.artifacts_dir(run_key)),
                )
            )
        )

    def finish(
        self,
        run_key: str,
        *,
        metrics: dict[str, float],
        per_class_ap: dict[str, float],
        wall_seconds: float,
        protocol: str = "default",
        details: dict[str, Any] | None = None,
    ) -> None:
        """Mark a run finished with its results (and details such as skipped images)."""
        self._write(
            lambda conn: conn.execute(
                runs.update()
                .where(runs.c.run_key == run_key)
                .values(
                    status="finished",
                    metrics=_clean(metrics),
                    per_class_ap=_clean(per_class_ap),
                    wall_seconds=wall_seconds,
                    protocol=protocol,
                    details=details or {},
                    updated_at=_now(),
                )
            )
        )

    def fail(
        self, run_key: str, error: str, *, status: str = "failed", wall_seconds: float | None = None
    ) -> None:
        """Mark a run failed (or interrupted, or pruned by a sweep) with its reason."""
        if status not in ("failed", "interrupted", "pruned"):
            raise ValueError(f"status must be 'failed', 'interrupted' or 'pruned', got {status!r}")
        self._write(
            lambda conn: conn.execute(
                runs.update()
                .where(runs.c.run_key == run_key)
                .values(status=status, error=error, wall_seconds=wall_seconds, updated_at=_now())
            )
        )

    # -- reads ----------------------------------------------------------------------------------

    def artifacts_dir(self, run_key: str) -> Path:
        """The folder holding a run's predictions, checkpoint and logs."""
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
        return RunRecord(**rows[0]._asdict())

    def status(self, run_key: str) -> str | None:
        """A run's status, or None if the store has never heard of it."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(runs.c.status).where(runs.c.run_key == run_key)).scalar()

    def list_runs(
        self, study: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows of runs joined with their study memberships (a run without one has study None)."""
        j = runs.outerjoin(members, members.c.run_key == runs.c.run_key)
        q = sa.select(
            runs, members.c.study, members.c.arm, members.c.seed, members.c.smoke
        ).select_from(j)
        if study is not None:
            q = q.where(members.c.study == study)
        if status is not None:
            q = q.where(runs.c.status == status)
        q = q.order_by(runs.c.created_at, members.c.study, members.c.arm, members.c.seed)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def study_members(self, study: str) -> list[dict[str, Any]]:
        """The (arm, seed, run key, status, metrics) of every member of ``study``."""
        return self.list_runs(study=study)
