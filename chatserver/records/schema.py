"""The interaction record tables (SQLAlchemy Core).  Migrations live in ``migrations/``;
change a table here and add a migration there.

Times are integers: milliseconds since the Unix epoch (UTC), exactly as recorded.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

interactions = Table(
    "interactions",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("visitor_id", String(64), nullable=False),
    Column("visitor_name", String(256), nullable=False, default=""),
    Column("visitor_email", String(256), nullable=False, default=""),
    Column("page_url", Text, nullable=False, default=""),
    Column("referrer", Text, nullable=False, default=""),
    Column("locale", String(35), nullable=False, default=""),
    Column("user_agent", Text, nullable=False, default=""),
    Column("fields", JSON, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("required_skills", JSON, nullable=False),
    Column("optional_skills", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("end_state", String(16), nullable=False),
    Column("ended_by", String(128), nullable=False, default=""),
    Column("outcome", String(256), nullable=False, default=""),
    Column("tags", JSON, nullable=False),
    Column("tags_text", Text, nullable=False, default=""),
    Column("rating", Integer, nullable=True),
    Column("rating_comment", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("queued_at", BigInteger, nullable=True),
    Column("first_offer_at", BigInteger, nullable=True),
    Column("accepted_at", BigInteger, nullable=True),
    Column("first_agent_reply_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=False),
    Column("agent_id", String(64), nullable=False, default=""),
    Column("agent_ids", Text, nullable=False, default=""),
    Column("message_count", Integer, nullable=False, default=0),
    Column("skills_text", Text, nullable=False, default=""),
    # "|billing|tech|": filter by skill with a portable LIKE
    Column("search_text", Text, nullable=False, default=""),
    # the transcript case-folded (str.casefold), so word search is case-insensitive in
    # every language on SQLite and PostgreSQL alike
    Column("written_at", BigInteger, nullable=False),
    # every hand-over: [{at, from, to, topic, by, note}] (null in records written before)
    Column("transfers", JSON, nullable=True),
    # the answer to "how likely are you to recommend us?" 0-10 (null: not asked/answered)
    Column("nps", Integer, nullable=True),
    # ids of the outage notices the visitor was shown (null in records written before)
    Column("notices", JSON, nullable=True),
    # the inbox of offline messages (end_state "offline"): who claimed it, and the e-mail
    # reply; null until then (docs/inbox.md)
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", BigInteger, nullable=True),
    Column("reply", Text, nullable=True),
    Column("replied_at", BigInteger, nullable=True),
    Column("replied_by", String(64), nullable=True),
    Index("ix_interactions_ended", "ended_at", "chat_id"),
    Index("ix_interactions_created", "created_at"),
    Index("ix_interactions_agent", "agent_id"),
    Index("ix_interactions_topic", "topic"),
    Index("ix_interactions_email", "visitor_email"),
    Index("ix_interactions_visitor", "visitor_id"),
    Index("ix_interactions_inbox", "end_state", "topic", "ended_at"),
)

interaction_messages = Table(
    "interaction_messages",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("sender_role", String(16), nullable=False),
    Column("sender_id", String(64), nullable=False),
    Column("sender_name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("internal", Boolean, nullable=False),
    Column("text", Text, nullable=False),
    # an attachment: JSON {id, name, size, type}; null for a text message
    Column("file", Text, nullable=True),
)

interaction_agents = Table(
    "interaction_agents",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("joined_at", BigInteger, nullable=False),
    Column("left_at", BigInteger, nullable=True),
    Column("left_reason", String(32), nullable=False, default=""),
    Index("ix_interaction_agents_agent", "agent_id", "joined_at"),
)

interaction_events = Table(
    "interaction_events",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("agent_id", String(64), nullable=False, default=""),
    Column("detail", String(256), nullable=False, default=""),
    Column("result", String(16), nullable=False, default=""),
)

agent_status_changes = Table(
    "agent_status_changes",
    metadata,
    # the Redis stream entry id: writing the same change twice is a no-op
    Column("id", String(40), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_agent_status_agent_at", "agent_id", "at"),
)

crm_deliveries = Table(
    "crm_deliveries",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Index("ix_crm_pending", "delivered_at", "next_attempt_at"),
)

transcript_emails = Table(
    "transcript_emails",
    metadata,
    # the outbox entry id of the visitor's request: writing it twice is a no-op
    Column("id", String(40), primary_key=True),
    Column("chat_id", String(64), nullable=False),
    Column("email", String(254), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Index("ix_transcript_emails_chat", "chat_id"),
    Index("ix_transcript_emails_pending", "sent_at", "next_attempt_at"),
)
