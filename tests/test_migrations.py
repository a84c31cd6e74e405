"""Schema versions: new, old and newer databases on every backend, and `aetui db`."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from store import migrations, open_db, queries, queue
from store.engine import make_engine
from store.migrations import SchemaError

# A later revision, as a schema change would add one: a column on job.
LATER = '''
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("later_column", sa.String(), nullable=True))


def downgrade():
    with op.batch_alter_table("job") as batch:
        batch.drop_column("later_column")
'''


@pytest.fixture
def later(tmp_path: Path) -> str:
    """The store's migrations plus one later revision, in a folder of their own."""
    where = tmp_path / "migrations"
    shutil.copytree(migrations.LOCATION, where, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    (where / "versions" / "0099_note.py").write_text(LATER.format(head=migrations.head()))
    return str(where)


def columns(engine, table: str) -> set[str]:
    with engine.connect() as c:
        return {col["name"] for col in inspect(c).get_columns(table)}


def add_job(db) -> int:
    (job,) = queue.enqueue_many(db, [{"kind": "train", "spec": {"x": 1}, "label": "old"}], run_root="/runs")
    return job.id


def test_migrations_build_exactly_the_tables(backend_url):
    """Upgrading an empty database step by step gives what `store.tables` declares: a change
    to the tables without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = make_engine(backend_url)
    with engine.begin() as c:
        migrations._upgrade(c, migrations.LOCATION)  # every revision, no create_all
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    assert migrations.status(engine).up_to_date


def test_head_constant_is_the_newest_revision():
    assert migrations.HEAD == migrations._script(migrations.LOCATION).get_current_head()


def test_new_database_is_created_at_head(backend_url):
    db = open_db(backend_url)
    st = migrations.status(db)
    assert (st.current, st.pending) == (migrations.head(), ())


def at_revision(url: str, revision: str, *, version_table: bool = True):
    """A database as an older aetui left it: the tables of `revision`, one job in them."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", migrations.LOCATION)
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, revision)
        if not version_table:  # what aetui made before it had migrations
            c.execute(text("DROP TABLE alembic_version"))
        c.execute(text("INSERT INTO job (kind, status, spec, label, priority, device, created_at, updated_at, "
                       "cancel_requested, step, total_steps) VALUES ('train', 'queued', '{}', 'old', 0, 'auto', "
                       "1.0, 1.0, false, 0, 0)"))
    return engine


def test_database_from_before_migrations_is_stamped_and_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    at_revision(url, "0001", version_table=False)
    db = open_db(url)
    assert migrations.status(db).current == migrations.HEAD
    job = queries.get_job(db, 1)
    assert (job.label, job.gpus) == ("old", 1)


def test_real_upgrade_from_each_revision(backend_url):
    """Every revision users may have, upgraded to the head with their jobs kept: on SQLite
    when opened, on PostgreSQL by `aetui db upgrade`."""
    engine = at_revision(backend_url, "0001")
    if engine.dialect.name == "sqlite":
        migrations.ensure_schema(engine)
    else:
        with pytest.raises(SchemaError, match="run `aetui db upgrade`"):
            migrations.ensure_schema(engine)
        assert migrations.upgrade(engine) == ("0001", migrations.HEAD)
    assert migrations.status(engine).current == migrations.HEAD
    assert queries.get_job(engine, 1).gpus == 1


def test_sqlite_is_upgraded_when_opened(tmp_path, later):
    path = tmp_path / "aetui.db"
    job_id = add_job(open_db(path))  # made at the initial revision
    engine = make_engine(path)
    assert "later_column" not in columns(engine, "job")
    assert migrations.status(engine, later).pending == ("0099",)
    migrations.ensure_schema(engine, later)
    assert "later_column" in columns(engine, "job")
    assert migrations.status(engine, later).current == "0099"
    assert queries.get_job(engine, job_id).label == "old"


def test_sqlite_opened_by_many_at_once_is_upgraded_once(tmp_path, later):
    path = tmp_path / "aetui.db"
    add_job(open_db(path))
    errors = []

    def open_it():
        try:
            migrations.ensure_schema(make_engine(path), later)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and "later_column" in columns(make_engine(path), "job")


def test_postgresql_behind_is_refused_until_db_upgrade(pg_url, later):
    job_id = add_job(open_db(pg_url))
    engine = make_engine(pg_url)
    with pytest.raises(SchemaError, match=rf"revision {migrations.HEAD}, this aetui needs 0099: run `aetui db upgrade`"):
        migrations.ensure_schema(engine, later)
    assert "later_column" not in columns(engine, "job")  # refused means untouched
    assert migrations.upgrade(engine, later) == (migrations.HEAD, "0099")
    migrations.ensure_schema(engine, later)
    assert "later_column" in columns(engine, "job")
    assert queries.get_job(engine, job_id).label == "old"


def test_database_upgraded_by_a_newer_aetui_is_refused(backend_url):
    db = open_db(backend_url)
    with db.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(SchemaError, match="0999, which this aetui does not know.*update aetui"):
        open_db(backend_url)


def _db_cli(home: Path, url: str, *args: str):
    from typer.testing import CliRunner

    from aetui.cli import app

    env = {k: None for k in os.environ if k.startswith("AETUI_")}
    env.update(AETUI_HOME=str(home), AETUI_DB=url)
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_db_verbs(tmp_path, backend_url):
    status = _db_cli(tmp_path, backend_url, "db", "status", "--json")
    assert status.exit_code == 0, status.output
    before = json.loads(status.stdout)
    assert before["current"] is None and before["head"] == migrations.head() and not before["up_to_date"]
    up = _db_cli(tmp_path, backend_url, "db", "upgrade")
    assert up.exit_code == 0 and f"created at revision {migrations.head()}" in up.stdout
    again = _db_cli(tmp_path, backend_url, "db", "upgrade", "--json")
    assert json.loads(again.stdout) == {"backend": before["backend"], "from": migrations.head(),
                                        "to": migrations.head(), "changed": False}
    assert "password" not in status.stdout and ":aetui@" not in status.stdout


def test_refusal_is_one_clear_line(tmp_path, pg_url, monkeypatch):
    db = open_db(pg_url)
    with db.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    result = _db_cli(tmp_path, pg_url, "runs")
    assert result.exit_code == 2
    assert result.stderr == (f"aetui: error: the database is at schema revision 0999, which this aetui does not know "
                             f"(its newest is {migrations.head()}): it was upgraded by a newer aetui; update aetui\n")
