"""Opening the database: SQLite in WAL mode with a busy timeout and foreign keys on.

Write transactions on SQLite start with BEGIN IMMEDIATE (`write()`), so two
processes never both read-then-upgrade and deadlock into "database is locked".

PostgreSQL (`postgresql://user@host/db`, driver psycopg 3) is the shared store of several
machines; there the queue takes row locks (`FOR UPDATE SKIP LOCKED`), which SQLite ignores.
The schema is alembic's (`store.migrations`): `open_db` creates or upgrades an SQLite file
on the spot and refuses a PostgreSQL database that is behind (`aetui db upgrade`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_S = 60


def open_db(target: str | Path) -> Engine:
    """Open the store at a file path or an SQLAlchemy URL, creating or upgrading its schema
    (SQLite) or checking that it is current (PostgreSQL; `store.migrations.SchemaError`).

    Processes opening a new or old database at once (several workers started together)
    create or upgrade it one after the other under a lock, never racing.
    """
    from store.migrations import ensure_schema

    engine = make_engine(target)
    ensure_schema(engine)
    return engine


def make_engine(target: str | Path) -> Engine:
    """The engine alone, schema untouched (`aetui db upgrade` and the migrations use it)."""
    url = str(target)
    if "://" not in url:
        path = Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
        _sqlite_pragmas(engine)
    else:
        engine = create_engine(_with_driver(url), pool_pre_ping=True)
    return engine


def _with_driver(url: str) -> URL:
    """`postgresql://` (and `postgres://`) mean psycopg 3, the driver aetui installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ValueError("a PostgreSQL store needs the psycopg driver: pip install 'aetui[scale]'") from None
    return parsed


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        mode = "IMMEDIATE" if conn.get_execution_options().get("immediate") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def write(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its first statement."""
    bind = engine.execution_options(immediate=True) if engine.dialect.name == "sqlite" else engine
    with Session(bind, expire_on_commit=False) as session:
        with session.begin():
            yield session


@contextmanager
def read(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
