"""Alembic's environment for the store: the target is `store.tables`.

`store.migrations` passes its own connection (inside the transaction that holds the schema
lock); the `alembic` command line (developers only, see alembic.ini) opens `$AETUI_DB`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    raise SystemExit("aetui's migrations run online only: `aetui db upgrade`")
else:
    from store.engine import make_engine

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("AETUI_DB")
    if not url:
        raise SystemExit("set AETUI_DB to the database (a path or an SQLAlchemy URL)")
    with make_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
