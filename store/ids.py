"""Job ids are never given twice: not after a delete, and not over an existing run folder.

The table's own counter (SQLite AUTOINCREMENT, a PostgreSQL sequence) never goes back. A
store that was lost and started afresh, or restored from an older backup, knows nothing of
the run folders its predecessor left; `raise_floor` moves its counter above the highest
folder number under the runs root, so a new job never gets the number of an old folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

_PG_LOCK_KEY = 0x61656964  # "aeid": serialises raising the sequence against other enqueues


def highest_run_folder(run_root: str | Path) -> int:
    """The largest all-digit folder name under the runs root (0 when none or unreadable)."""
    try:
        with os.scandir(run_root) as entries:
            return max((int(e.name) for e in entries if e.name.isdigit() and e.is_dir()), default=0)
    except OSError:
        return 0


def raise_floor(session, floor: int) -> None:  # noqa: ANN001
    """Inside a write transaction, before its jobs are inserted: the next job id will be
    above `floor`. Every enqueue calls it (PostgreSQL: it takes the lock that keeps another
    enqueue from drawing ids while the sequence is being moved)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    if floor <= 0:
        return
    if dialect == "sqlite":
        seq = session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'job'")).scalar()
        if seq is None:
            top = session.execute(text("SELECT max(id) FROM job")).scalar() or 0
            session.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES ('job', :n)"), {"n": max(top, floor)})
        elif seq < floor:
            session.execute(text("UPDATE sqlite_sequence SET seq = :n WHERE name = 'job'"), {"n": floor})
    elif dialect == "postgresql":
        # setval is outside transactions: the lock above keeps other enqueues from drawing
        # an id between reading the sequence and moving it
        name = session.execute(text("SELECT pg_get_serial_sequence('job', 'id')")).scalar()
        last, called = session.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
        if (last if called else last - 1) < floor:
            session.execute(text("SELECT setval(:name, :n)"), {"name": name, "n": floor})

