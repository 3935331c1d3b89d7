"""interaction records: file attachments on messages

Revision ID: 0007_files
Revises: 0006_transcript_emails
Create Date: 2026-12-03 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_files"
down_revision = "0006_transcript_emails"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # an attachment (JSON {id, name, size, type}); null for a text message
    op.add_column("interaction_messages", sa.Column("file", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("interaction_messages", "file")
