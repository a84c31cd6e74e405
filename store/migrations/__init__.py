"""The store's schema versions (alembic): how a database gets to the tables of `store.tables`.

- A new database gets the tables at once (`create_all`) and is stamped with the head revision.
- A database from before migrations existed (tables, no `alembic_version`) is at the initial
  revision, 0001, and is stamped so.
- A database behind the head is upgraded: on SQLite when it is opened (one file, one user);
  on PostgreSQL only by `aetui db upgrade` (`upgrade()`), since other machines may still run
  the older aetui: opening it raises `SchemaError` saying so.
- A database ahead of this aetui (upgraded by a newer one) is refused, never written to.

Every check and change runs in one transaction under a lock (SQLite's write lock, a
PostgreSQL advisory lock), so processes opening the same database at once never race.
A database already at the head costs one read and no lock.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # importing this module stays cheap: `store.sqlite_read` reads HEAD
    from sqlalchemy.engine import Connection, Engine

LOCATION = str(Path(__file__).resolve().parent)
INITIAL = "0001"
# The newest revision in versions/, so that opening a current database imports no alembic
# (~0.2 s); tests/test_migrations.py checks it against the files. Bump it with each revision.
HEAD = "0006"
VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x61657475  # "aetu": the advisory lock that serialises schema changes


class SchemaError(ValueError):
    """The database's schema does not match this aetui; the text says what to do."""


@dataclass(frozen=True)
class Status:
    backend: str
    current: str | None  # None: no aetui tables yet
    head: str
    pending: tuple[str, ...]  # revisions an upgrade would apply, oldest first

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def head(location: str = LOCATION) -> str:
    return HEAD if location == LOCATION else _script(location).get_current_head()


def status(engine: Engine, location: str = LOCATION) -> Status:
    with engine.connect() as conn:
        current = _current(conn)
    return Status(engine.dialect.name, current, head(location), _pending(current, location))


def ensure_schema(engine: Engine, location: str = LOCATION) -> None:
    """Make the database usable by this aetui, or raise `SchemaError` (see the module doc)."""
    from sqlalchemy import inspect, text  # noqa: F401

    with engine.connect() as conn:
        current = _current(conn)
    if current is not None and current == _quick_head(location):  # the usual case: alembic not imported
        return
    target = head(location)
    if current == target:
        return
    with _locked(engine) as conn:
        current = _current(conn)
        if current is None and not inspect(conn).has_table("job"):
            _create(conn, location)
            return
        if current is None:
            _stamp(conn, INITIAL, location)
            current = INITIAL
        _known(current, location)
        if current == target:
            return
        if engine.dialect.name != "sqlite":
            raise SchemaError(
                f"the database is at schema revision {current}, this aetui needs {target}: "
                "run `aetui db upgrade` once (after updating aetui on every machine that uses it)")
        _backup(engine, target)
        _upgrade(conn, location)


def upgrade(engine: Engine, location: str = LOCATION) -> tuple[str | None, str]:
    """Bring the database to the head revision (creating it when empty); returns (from, to)."""
    from sqlalchemy import inspect, text  # noqa: F401

    with _locked(engine) as conn:
        before = _current(conn)
        if before is None and not inspect(conn).has_table("job"):
            _create(conn, location)
            return None, head(location)
        if before is None:
            _stamp(conn, INITIAL, location)
        _known(before or INITIAL, location)
        if before != head(location):
            _backup(engine, head(location))
        _upgrade(conn, location)
        return before, head(location)


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:['\"]([^'\"]*)['\"]|None)", re.M)


@lru_cache(maxsize=4)
def _quick_head(location: str) -> str | None:
    """The head revision read from the version files' `revision = ...` lines, without
    importing alembic (about half a second); None when they are not one plain chain."""
    revisions, downs = set(), set()
    for path in Path(location, "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(path.read_text()))
        if "revision" in found and found["revision"]:
            revisions.add(found["revision"])
            downs.add(found.get("down_revision"))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


@lru_cache(maxsize=4)
def _script(location: str):
    from alembic.script import ScriptDirectory

    return ScriptDirectory(location)


def _current(conn: Connection) -> str | None:
    from sqlalchemy import inspect, text  # noqa: F401

    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _pending(current: str | None, location: str) -> tuple[str, ...]:
    script = _script(location)
    try:
        revs = list(script.iterate_revisions(script.get_current_head(), current or "base"))
    except Exception:  # an unknown revision: nothing this aetui can apply
        return ()
    return tuple(r.revision for r in reversed(revs))


def _known(revision: str, location: str) -> None:
    from alembic.util import CommandError

    try:
        _script(location).get_revision(revision)
    except CommandError:
        raise SchemaError(
            f"the database is at schema revision {revision}, which this aetui does not know "
            f"(its newest is {head(location)}): it was upgraded by a newer aetui; update aetui") from None


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction that no other process's schema check or change runs beside."""
    from sqlalchemy import inspect, text  # noqa: F401

    if engine.dialect.name == "sqlite":
        # foreign keys off while tables are rebuilt (SQLite's own procedure for table changes:
        # dropping the old table would otherwise check or delete the rows that refer to it);
        # the pragma only takes effect outside a transaction, so it goes before BEGIN
        with engine.execution_options(immediate=True).connect() as conn:  # BEGIN IMMEDIATE: the write lock
            raw = conn.connection.driver_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    yield conn
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield conn


def _backup(engine: Engine, target: str) -> None:
    """SQLite: a backup of the store as it is before it is migrated (`store.backup`)."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        from store.backup import take

        take(Path(engine.url.database), f"before-{target}")


def _create(conn: Connection, location: str) -> None:
    from sqlmodel import SQLModel

    import store.tables  # noqa: F401

    SQLModel.metadata.create_all(conn)
    _stamp(conn, "head", location)


def _stamp(conn: Connection, revision: str, location: str) -> None:
    from alembic.runtime.migration import MigrationContext

    MigrationContext.configure(conn).stamp(_script(location), revision)


def _upgrade(conn: Connection, location: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", location)
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
