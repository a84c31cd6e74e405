"""notice: the outbox of job endings a worker sends as notifications (`store.outbox`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False, server_default=""),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("run_dir", sa.String(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("group_key", sa.String(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_try_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.UniqueConstraint("group_key", name="uq_notice_group_key"),
    )
    op.create_index("ix_notice_job_id", "notice", ["job_id"])
    op.create_index("ix_notice_created_at", "notice", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notice_created_at", table_name="notice")
    op.drop_index("ix_notice_job_id", table_name="notice")
    op.drop_table("notice")
