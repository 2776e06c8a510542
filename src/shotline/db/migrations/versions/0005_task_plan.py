"""The generation plan made at submit, stored with the task so the worker runs it instead of planning again.

Revision ID: 0005_task_plan
Revises: 0004_keys_metrics
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_task_plan"
down_revision = "0004_keys_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("plan_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("plan_json")
