"""Key rate limits in any unit, per-task generation and encode timings (for /metrics), and the GPU memory
each worker reports with its heartbeat.

Revision ID: 0004_keys_metrics
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_keys_metrics"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_limit", sa.String(32), nullable=True))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("generate_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("encode_s", sa.Float(), nullable=True))
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("gpu_memory_used_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("gpu_memory_total_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("gpu_memory_total_bytes")
        batch.drop_column("gpu_memory_used_bytes")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("encode_s")
        batch.drop_column("generate_s")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit")
