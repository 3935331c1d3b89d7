"""interaction records: the transfer trace

Revision ID: 0002_transfer_trace
Revises: 0001
Create Date: 2026-12-02 03:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_transfer_trace"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every hand-over of the chat: [{at, from, to, topic, by, note}]; null in older records
    op.add_column("interactions", sa.Column("transfers", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "transfers")
