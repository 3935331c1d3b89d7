"""interaction records: transcripts e-mailed to visitors (the transcript frame)

Revision ID: 0006_transcript_emails
Revises: 0005_inbox
Create Date: 2026-12-03 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_transcript_emails"
down_revision = "0005_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # one row per request: to which address, when it was sent (null until then)
    op.create_table(
        "transcript_emails",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
    )
    op.create_index("ix_transcript_emails_chat", "transcript_emails", ["chat_id"])
    op.create_index(
        "ix_transcript_emails_pending", "transcript_emails", ["sent_at", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_transcript_emails_pending", "transcript_emails")
    op.drop_index("ix_transcript_emails_chat", "transcript_emails")
    op.drop_table("transcript_emails")
