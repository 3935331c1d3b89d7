"""interaction records: the NPS answer

Revision ID: 0003_nps
Revises: 0002_transfer_trace
Create Date: 2026-12-02 07:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_nps"
down_revision = "0002_transfer_trace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "how likely are you to recommend us?" 0-10; null when not asked or not answered
    op.add_column("interactions", sa.Column("nps", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "nps")
