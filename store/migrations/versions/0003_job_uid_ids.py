"""Jobs own their files for good: ids never given twice, a uid per job, run folders relative.

- job.id: SQLite reused the highest id after the newest job was deleted (a rowid without
  AUTOINCREMENT), so `runs/7/` and a user's notes about job 7 changed meaning. The job table
  is rebuilt with AUTOINCREMENT; PostgreSQL's sequence never went back.
- job.uid: a random hex name per job, written into its run folder and checkpoints, so a
  job never resumes from or writes into another job's files (existing jobs get one now).
- run.run_dir: stored relative to the home when inside it, so a copied or moved home uses
  its own `runs/`. On SQLite the home is the database file's folder: absolute paths under
  it are rewritten. PostgreSQL has no such folder; its paths stay as they are (readers
  resolve either form).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("uid", sa.String(), nullable=True))
    random_hex = "lower(hex(randomblob(16)))" if sqlite else "md5(random()::text || clock_timestamp()::text || id::text)"
    op.execute(f"UPDATE job SET uid = {random_hex} WHERE uid IS NULL")
    if sqlite:
        # a copy of the table with AUTOINCREMENT (store.migrations turns foreign keys off
        # around SQLite migrations, as SQLite's procedure for table changes asks)
        with op.batch_alter_table("job", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.alter_column("uid", existing_type=sa.String(), nullable=False)
        _relative_run_dirs(bind)
    else:
        op.alter_column("job", "uid", existing_type=sa.String(), nullable=False)
    op.create_index("ix_job_uid", "job", ["uid"], unique=True)


def _relative_run_dirs(bind) -> None:  # noqa: ANN001
    database = bind.engine.url.database
    if not database:
        return
    prefix = str(Path(database).resolve().parent).rstrip("/") + "/"
    bind.execute(sa.text("UPDATE run SET run_dir = substr(run_dir, :n + 1) "
                         "WHERE substr(run_dir, 1, :n) = :prefix AND length(run_dir) > :n"),
                 {"n": len(prefix), "prefix": prefix})


def downgrade() -> None:
    op.drop_index("ix_job_uid", table_name="job")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("uid")
