"""Listing jobs straight from an SQLite store with the standard library, read-only.

`aetui runs` starts in a fraction of a second this way: SQLAlchemy and SQLModel, which
cost most of a second to import, are never loaded. The schema stays in one place
(`store.tables`): rows come back with every column the table has (`SELECT *`), and the
columns that the table declares as JSON are decoded. The answer matches
`store.queries.list_jobs`; where this reader cannot answer (not an SQLite file, a schema
it does not know), it returns None and the caller asks `store.queries`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace


# declared column types whose SQLite values SQLAlchemy converts (JSON text, 0/1 booleans)
DECODERS = {"JSON": json.loads, "BOOLEAN": bool}


class Record(SimpleNamespace):
    """A row as attributes, like the ORM object the same query returns through SQLAlchemy."""


def _current_schema(con: sqlite3.Connection) -> bool:
    """Whether the file is at this aetui's schema revision; an older one is upgraded (and a
    newer one refused) by `store.open_db`, so this reader leaves both to it."""
    from store.migrations import HEAD

    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:  # no version table: a file from before migrations
        return False
    return row is not None and row[0] == HEAD


def sqlite_path(db_url: str) -> Path | None:
    """The database file of a store URL or path, or None when the store is not SQLite."""
    if "://" not in db_url:
        return Path(db_url)
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///"):])
    return None


def list_jobs(db_url: str, *, status: str | None = None, kind: str | None = None,
              limit: int | None = None) -> list[Record] | None:
    """Jobs newest first, optionally filtered (as `store.queries.list_jobs`); [] when the
    store does not exist yet; None when this reader cannot answer."""
    path = sqlite_path(db_url)
    if path is None:
        return None
    if not path.is_file():
        return []
    where, args = [], []
    for column, value in (("status", status), ("kind", kind)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM job" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            types = {row[1]: (row[2] or "").upper() for row in con.execute("PRAGMA table_info(job)")}
            if not types or not _current_schema(con):
                return None
            decode = {name: DECODERS[declared] for name, declared in types.items() if declared in DECODERS}
            cur = con.execute(sql, args)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        finally:
            con.close()
        return [Record(**{n: decode[n](v) if n in decode and v is not None else v for n, v in zip(names, row)})
                for row in rows]
    except (sqlite3.Error, ValueError):
        return None


def running_since(db_url: str, job_ids: list[int]) -> dict[int, float] | None:
    """`store.queries.running_since` with sqlite3: when each job's running attempt started;
    None when this reader cannot answer."""
    path = sqlite_path(db_url)
    if path is None:
        return None
    if not job_ids or not path.is_file():
        return {}
    from store.states import AttemptOutcome

    sql = (f"SELECT job_id, max(started_at) FROM attempt WHERE outcome = ? AND job_id IN "
           f"({', '.join('?' * len(job_ids))}) GROUP BY job_id")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            if not _current_schema(con):
                return None
            return {int(j): float(t) for j, t in con.execute(sql, [str(AttemptOutcome.RUNNING), *job_ids])}
        finally:
            con.close()
    except (sqlite3.Error, ValueError, TypeError):
        return None


def job_choices(db_url: str, *, prefix: str = "", statuses: tuple[str, ...] = (), kind: str | None = None,
                limit: int = 100) -> list[tuple[int, str, str]] | None:
    """(id, label, status) of the newest jobs whose id starts with `prefix`, for shell
    completion: three columns, no JSON decoding, so a TAB answers in milliseconds on a large
    store. [] when the store does not exist yet; None when this reader cannot answer."""
    path = sqlite_path(db_url)
    if path is None:
        return None
    if not path.is_file():
        return []
    where, args = ["CAST(id AS TEXT) LIKE ?"], [f"{prefix}%"]
    if statuses:
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        args.extend(statuses)
    if kind:
        where.append("kind = ?")
        args.append(kind)
    sql = f"SELECT id, label, status FROM job WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            if not _current_schema(con):
                return None
            return [(int(i), label or "", str(status)) for i, label, status in con.execute(sql, [*args, limit])]
        finally:
            con.close()
    except (sqlite3.Error, ValueError):
        return None
