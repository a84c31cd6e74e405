"""Persistence for aetui: SQLModel tables, the engine, and the queue operations.

Knows nothing of torch or Textual. Every state change of a job goes through
`store.queue`; readers (CLI, dashboard, worker) share `store.queries`.
"""

from importlib import import_module

from store.states import ACTIVE, FINISHED, STATUSES

__all__ = ["open_db", "Job", "Run", "Attempt", "Setting", "STATUSES", "ACTIVE", "FINISHED"]

# imported on first use: SQLModel and SQLAlchemy cost most of a second, which light
# readers (`aetui runs` through `store.sqlite_read`) never pay
_LAZY = {"open_db": "store.engine", "Job": "store.tables", "Run": "store.tables", "Attempt": "store.tables",
         "Setting": "store.tables"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'store' has no attribute {name!r}")
