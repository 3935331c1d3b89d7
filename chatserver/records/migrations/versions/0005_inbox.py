"""interaction records: the inbox of offline messages (claim and e-mail reply)

Revision ID: 0005_inbox
Revises: 0004_notices
Create Date: 2026-12-02 07:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_inbox"
down_revision = "0004_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # who claimed an offline message, and the reply sent by e-mail; null until then
    op.add_column("interactions", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("interactions", sa.Column("claimed_at", sa.BigInteger(), nullable=True))
    op.add_column("interactions", sa.Column("reply", sa.Text(), nullable=True))
    op.add_column("interactions", sa.Column("replied_at", sa.BigInteger(), nullable=True))
    op.add_column("interactions", sa.Column("replied_by", sa.String(64), nullable=True))
    op.create_index("ix_interactions_inbox", "interactions", ["end_state", "topic", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_interactions_inbox", "interactions")
    for name in ("replied_by", "replied_at", "reply", "claimed_at", "claimed_by"):
        op.drop_column("interactions", name)
