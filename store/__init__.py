"""Persistence for aetui: SQLModel tables, the engine, and the queue operations.

Knows nothing of torch or Textual. Every state change of a job goes through
`store.queue`; readers (CLI, dashboard, worker) share `store.queries`.
"""

from store.engine import open_db
from store.tables import ACTIVE, FINISHED, STATUSES, Attempt, Job, Run, Setting

__all__ = ["open_db", "Job", "Run", "Attempt", "Setting", "STATUSES", "ACTIVE", "FINISHED"]
