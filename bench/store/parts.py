"""What the parts of :class:`bench.store.Store` (claims, history) use of it, declared once so
each part type-checks on its own; :class:`bench.store.database.Store` provides all of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from bench.store.records import RunRecord


class StoreParts:
    """The database handle, its printable name, writes, artifact folders and reads by key."""

    engine: Engine
    display: str

    def _write(self, statement_fn: Callable[[Connection], Any]) -> Any:
        raise NotImplementedError

    def artifacts_dir(self, run_key: str) -> Path:
        raise NotImplementedError

    def get(self, run_id: str) -> RunRecord:
        raise NotImplementedError
