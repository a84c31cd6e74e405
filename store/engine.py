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

    SQLite: a new store is made only where no file is, whole or not at all (`_create_file`);
    an empty or corrupted file is refused (`store.health.StoreDamaged`), never replaced; after
    its first write a backup is taken, at most daily (`write`, `store.backup`).
    """
    from store import health
    from store.migrations import ensure_schema

    path = sqlite_file(target)
    if path is not None:
        health.refuse_empty(path)
        if not path.exists():
            _create_file(path)
    engine = make_engine(target, create=path is None)
    ensure_schema(engine)
    return engine


def sqlite_file(target: str | Path) -> Path | None:
    """The file of an SQLite store (a path or `sqlite:///` URL); None for other stores."""
    url = str(target)
    if "://" not in url:
        return Path(url)
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return Path(url[len("sqlite:///"):].split("?", 1)[0])
    return None


def _create_file(path: Path) -> None:
    """A new SQLite store at `path`, made beside it and linked into place at once: another
    process never sees a half-made file, and an empty file found there never comes from us
    (`store.health.refuse_empty`). Several processes racing: the first link wins."""
    import os
    import uuid

    from store.migrations import ensure_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new")
    try:
        engine = make_engine(tmp)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()  # the last connection closed: the WAL is folded into the file
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def make_engine(target: str | Path, *, create: bool = True) -> Engine:
    """The engine alone, schema untouched (`aetui db upgrade` and the migrations use it).

    `create=False` (SQLite): connections open the existing file only, so a store deleted
    while in use is an error rather than a new, empty file."""
    url = str(target)
    if "://" not in url:
        path = Path(url)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    if url.startswith("sqlite"):
        args = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        file = sqlite_file(url)
        if not create and file is not None:
            import sqlite3
            from urllib.parse import quote

            uri = f"file:{quote(str(file))}?mode=rw"
            engine = create_engine(url, creator=lambda: sqlite3.connect(uri, uri=True, **args))
        else:
            engine = create_engine(url, connect_args=args)
        _sqlite_pragmas(engine)
        from store.health import guard

        guard(engine)
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
    """A session whose transaction holds the write lock from its first statement.

    SQLite: after an engine's first write that commits (a worker's first claim, a verb that
    changes something), the store's daily backup is taken if due (`store.backup`); a verb
    that is refused or only reads writes nothing, not even a backup."""
    bind = engine.execution_options(immediate=True) if engine.dialect.name == "sqlite" else engine
    with Session(bind, expire_on_commit=False) as session:
        with session.begin():
            yield session
    if engine.dialect.name == "sqlite" and not getattr(engine, "_aetui_backup_checked", False):
        engine._aetui_backup_checked = True
        _daily_backup(engine)


def _daily_backup(engine: Engine) -> None:
    from store import backup
    from store.health import StoreDamaged

    if not engine.url.database:
        return
    try:
        backup.take_if_due(Path(engine.url.database))
    except StoreDamaged:  # the write is done; `aetui db status` and `db check` say what is wrong
        pass


@contextmanager
def read(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
