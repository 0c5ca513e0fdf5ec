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
:mod:`bench.owner`) to running, so two processes never train the same run. Only the claim's
holder records the outcome. Every write is one transaction, so a process killed mid-way leaves
the store consistent: its run stays ``running`` with a dead owner, listed as ``stale``, and is
taken over by the next process that wants it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from bench.owner import Owner, owner_alive

STATUSES = ("pending", "running", "finished", "failed", "interrupted", "pruned")
STATES = (*STATUSES, "stale")  # stale: running, but its owner is dead
CLAIMABLE = ("pending", "failed", "interrupted", "pruned")
# what a run key may hold: config_hash gives 16 hex digits; nothing that can leave a folder
RUN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")

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
    sa.Column("details", sa.JSON),  # skipped images, world size, timings, warnings, trial...
    sa.Column("provenance", sa.JSON),  # machine, thread count, digests of weights and data
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("owner_host", sa.String(255)),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("owner_started", sa.Float),
    sa.Column("owner_token", sa.String(32)),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("study", sa.String(200), primary_key=True),
    sa.Column("variant", sa.String(400), primary_key=True),
    sa.Column("arm", sa.String(200), primary_key=True),
    sa.Column("seed", sa.Integer, primary_key=True),
    sa.Column("smoke", sa.Boolean, primary_key=True),
    sa.Column("run_key", sa.String(32), sa.ForeignKey("runs.run_key"), nullable=False, index=True),
)

variants = sa.Table(
    "variants",
    metadata,
    sa.Column("study", sa.String(200), primary_key=True),
    sa.Column("variant", sa.String(400), primary_key=True),
    sa.Column("overrides", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message names the database."""


class LostClaim(StoreError):
    """This process no longer holds the run it tries to record (another one took it over)."""


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
    provenance: dict[str, Any] | None
    attempts: int
    owner_host: str | None
    owner_pid: int | None
    owner_started: float | None
    owner_token: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def state(self) -> str:
        """The status, or ``stale`` for a running run whose owner is dead."""
        return state_of(self.__dict__)

    @property
    def owner(self) -> str:
        return f"pid {self.owner_pid} on {self.owner_host}" if self.owner_host else "-"


@dataclass(frozen=True)
class Claim:
    """What :meth:`Store.claim` found.

    Attributes:
        result: ``claimed`` (this process runs it now), ``finished`` (nothing to do) or
            ``held`` (a live process runs it).
        attempt: the attempt number this claim starts (``claimed``).
        holder: who runs it (``held``).
    """

    result: str
    attempt: int = 0
    holder: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def state_of(row: dict[str, Any]) -> str:
    """A run row's status, or ``stale`` when it is running under a dead owner."""
    if row["status"] != "running":
        return row["status"]
    alive = owner_alive(
        row["owner_host"], row["owner_pid"], row["owner_started"], row["heartbeat_at"], _now()
    )
    return "running" if alive else "stale"


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


def _migrate(engine: Engine) -> None:
    """Bring a store written by an older version up to date, in one transaction per step.

    Adds the columns ``runs`` lacks, and moves the old ``members`` table (no variants) into
    ``memberships`` as members of the plain studies.
    """
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in tables:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(engine.dialect)
                with engine.begin() as conn:
                    conn.execute(
                        sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )
    if "members" in tables:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO memberships (study, variant, arm, seed, smoke, run_key) "
                    "SELECT study, '', arm, seed, smoke, run_key FROM members"
                )
            )
            conn.execute(sa.text("DROP TABLE members"))


class Store:
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
        if url.get_backend_name() == "sqlite" and url.database:
            path = Path(url.database)
            if not create and not path.is_file():
                raise StoreError(
                    f"no results store at {path}: give the right --store (or $BENCH_STORE), "
                    "or run a study first"
                )
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
        if engine.dialect.name == "sqlite":

            @sa.event.listens_for(engine, "connect")
            def _pragmas(conn, _record) -> None:  # pragma: no cover - exercised via every test
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        try:
            if not create and "runs" not in sa.inspect(engine).get_table_names():
                raise StoreError(f"store {self.display} holds no results (no 'runs' table)")
            metadata.create_all(engine)
            _migrate(engine)
        except sa.exc.SQLAlchemyError as err:
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
                        study=study, variant=variant, overrides=overrides, created_at=_now()
                    )
                )
            elif known != overrides:
                raise ValueError(
                    f"variant {variant!r} of study {study!r} was recorded with overrides "
                    f"{known}, not {overrides}: choose another --variant name"
                )

        self._write(do)

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

        return self._write(do)

    # -- claims and outcomes --------------------------------------------------------------------

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
                row = conn.execute(sa.select(runs).where(runs.c.run_key == run_key)).first()
            if row is None:
                raise KeyError(f"no run {run_key!r} in store {self.display}")
            row = row._asdict()
            if row["status"] == "finished":
                return Claim("finished")
            if row["status"] == "running" and state_of(row) == "running":
                return Claim("held", holder=f"pid {row['owner_pid']} on {row['owner_host']}")
            now = _now()
            matched = self._write(
                lambda conn, row=row, now=now: (
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
                            heartbeat_at=now,
                            updated_at=now,
                            artifacts=str(self.artifacts_dir(run_key)),
                        )
                    ).rowcount
                )
            )
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
                    .values(**values, updated_at=_now())
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
                        updated_at=_now(),
                    )
                ).rowcount
            )
        )
        return matched == 1

    def heartbeat(self, run_key: str, owner: Owner) -> None:
        """The owner is alive: refresh the run's heartbeat."""
        self._as_owner(run_key, owner, {"heartbeat_at": _now()})

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
                "metrics": _clean(metrics),
                "per_class_ap": _clean(per_class_ap),
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
        values = {"status": status, "error": error, "wall_seconds": wall_seconds}
        if details is not None:
            values["details"] = details
        self._as_owner(run_key, owner, values)

    # -- reads ----------------------------------------------------------------------------------

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


def check_run_key(run_key: str) -> str:
    """A run key that can name a folder and nothing else; ``../x`` or ``/etc`` raises.

    Keys name folders under the artifacts root, and a store may be shared: a crafted key must
    never reach outside that root.
    """
    if not isinstance(run_key, str) or not RUN_KEY.fullmatch(run_key):
        raise ValueError(
            f"not a run key: {run_key!r} (letters, digits, '_' and '-' only; "
            f"scac.config.config_hash gives 16 hexadecimal digits)"
        )
    return run_key
