"""Dispatch tracking for brokered queues: when the task's message was last sent.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("dispatched_at_ms", sa.BigInteger(), nullable=True))
    op.create_index("ix_tasks_owner_status", "tasks", ["owner", "status"])


def downgrade() -> None:
    op.drop_index("ix_tasks_owner_status", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("dispatched_at_ms")
