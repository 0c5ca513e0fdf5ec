"""The states a run record can be in: plain data, so the command line lists them without
loading the database layer."""

STATUSES = ("pending", "running", "finished", "failed", "interrupted", "pruned")
STATES = (*STATUSES, "stale")  # stale: running, but its owner is dead
CLAIMABLE = ("pending", "failed", "interrupted", "pruned")
