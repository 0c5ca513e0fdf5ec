"""The results store: one record per run, in any SQLAlchemy database (SQLite by default).

``records`` holds the tables and what a row says, ``claims`` how a run is claimed and its outcome
recorded, ``database`` the :class:`Store` that opens a database and reads and writes it.

May import: nothing else of ``bench`` (the bottom room).
"""

from bench.store.database import Store
from bench.store.records import (
    Claim,
    LostClaim,
    RunRecord,
    StoreError,
    check_run_key,
    default_store_url,
    masked_url,
    to_url,
)
from bench.store.states import CLAIMABLE, STATES, STATUSES

__all__ = [
    "CLAIMABLE",
    "STATES",
    "STATUSES",
    "Claim",
    "LostClaim",
    "RunRecord",
    "Store",
    "StoreError",
    "check_run_key",
    "default_store_url",
    "masked_url",
    "to_url",
]
