"""Tags and a note per job, and what each attempt used (GPU memory, utilization, CPU time).

- job_tag: one row a (job, tag); a table rather than a JSON list so that filtering by tag
  is a plain EXISTS on SQLite and PostgreSQL alike.
- job.note: free text a user writes about the job.
- attempt.usage: JSON {gpu_mem_peak, gpu_util_mean, gpu_samples, cpu_s} written by the
  worker while the attempt runs and when it ends.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobtag",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("job.id"), primary_key=True),
        sa.Column("tag", sa.String(), primary_key=True),
    )
    op.create_index("ix_jobtag_tag", "jobtag", ["tag"])
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("note", sa.String(), nullable=True))
    with op.batch_alter_table("attempt") as batch:
        batch.add_column(sa.Column("usage", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempt") as batch:
        batch.drop_column("usage")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("note")
    op.drop_index("ix_jobtag_tag", table_name="jobtag")
    op.drop_table("jobtag")
