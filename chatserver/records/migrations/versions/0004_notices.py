"""interaction records: the outage notices the visitor was shown

Revision ID: 0004_notices
Revises: 0003_nps
Create Date: 2026-12-02 07:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_notices"
down_revision = "0003_nps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ids of the outage notices shown to the chat's visitor; null in records written before
    op.add_column("interactions", sa.Column("notices", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("interactions", "notices")
