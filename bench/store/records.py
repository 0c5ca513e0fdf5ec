"""The records of the results store: its tables, what a row says, and what a run key may be.

Tables: ``runs`` (one row per run key: status, config, metrics, per-class AP, provenance, the
owner of the current attempt and its heartbeat), ``memberships`` (which study, variant, arm,
seed and size asks for which run) and ``variants`` (a study's named ``--set`` variants and their
overrides). :func:`migrate` brings a store written by an older version up to date.
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

from bench.store.owner import owner_alive

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


def now() -> datetime:
    return datetime.now(UTC)


def state_of(row: dict[str, Any]) -> str:
    """A run row's status, or ``stale`` when it is running under a dead owner."""
    if row["status"] != "running":
        return row["status"]
    alive = owner_alive(
        row["owner_host"], row["owner_pid"], row["owner_started"], row["heartbeat_at"], now()
    )
    return "running" if alive else "stale"


def clean(values: dict[str, float] | None) -> dict[str, float | None] | None:
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


def migrate(engine: Engine) -> None:
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
