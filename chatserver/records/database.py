"""The records database: engine, migrations, idempotent writes.

``DATABASE_URL`` selects it: ``postgresql://...`` (asyncpg) or ``sqlite:///path``
(aiosqlite); empty means ``sqlite:///<DATA_DIR>/records.db``.  Every write of a record is
an upsert keyed by chat id inside one transaction, so writing the same record twice (a
worker killed after its commit but before its acknowledgement, two workers racing) leaves
exactly one copy.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatserver.records.builder import InteractionRecord, transfer_dict
from chatserver.records.schema import (
    agent_status_changes,
    crm_deliveries,
    interaction_agents,
    interaction_events,
    interaction_messages,
    interactions,
    transcript_emails,
)
from chatserver.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy async URL for the configured database."""
    url = settings.database_url
    if not url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(settings.data_dir / 'records.db').resolve()}"
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def create_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    return engine


def _upgrade(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


async def migrate(url: str) -> None:
    """Bring the schema up to date (Alembic; runs its own event loop in a thread)."""
    await asyncio.to_thread(_upgrade, url)


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def clean(value: str, limit: int | None = None) -> str:
    """Text any SQL database accepts: no NUL characters (PostgreSQL refuses them), and
    within the column's length (lower-casing can make a string longer)."""
    value = value.replace("\x00", "")
    return value[:limit] if limit is not None else value


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    return value


def record_row(record: InteractionRecord, written_at: int) -> dict[str, Any]:
    row = _record_row(record, written_at)
    for column in interactions.c:
        value = row.get(column.name)
        if isinstance(value, str):
            length = getattr(column.type, "length", None)
            row[column.name] = clean(value, length)
        elif isinstance(value, (dict, list)):
            row[column.name] = _clean_json(value)
    return row


def _record_row(record: InteractionRecord, written_at: int) -> dict[str, Any]:
    return {
        "chat_id": record.chat_id,
        "visitor_id": record.visitor_id,
        "visitor_name": record.visitor_name,
        "visitor_email": record.visitor_email.lower(),
        "page_url": record.page_url,
        "referrer": record.referrer,
        "locale": record.locale,
        "user_agent": record.user_agent,
        "fields": dict(record.fields),
        "topic": record.topic,
        "required_skills": dict(record.required_skills),
        "optional_skills": dict(record.optional_skills),
        "priority": record.priority,
        "end_state": record.end_state,
        "ended_by": record.ended_by,
        "outcome": record.outcome,
        "tags": list(record.tags),
        "tags_text": "".join(f"|{t}|" for t in record.tags),
        "rating": record.rating,
        "rating_comment": record.rating_comment,
        "nps": record.nps,
        "created_at": record.created_at,
        "queued_at": record.queued_at,
        "first_offer_at": record.first_offer_at,
        "accepted_at": record.accepted_at,
        "first_agent_reply_at": record.first_agent_reply_at,
        "ended_at": record.ended_at,
        "agent_id": record.agent_id,
        "agent_ids": "".join(f"|{a}|" for a in sorted({s.agent_id for s in record.agents})),
        "message_count": len(record.messages),
        "skills_text": "".join(
            f"|{s}|" for s in sorted({*record.required_skills, *record.optional_skills})
        ),
        "search_text": record.transcript_text.casefold(),
        "written_at": written_at,
        "transfers": [transfer_dict(t) for t in record.transfers],
        "notices": list(record.notices),
    }


async def upsert_record(
    engine: AsyncEngine, record: InteractionRecord, written_at: int, *, crm: bool = False
) -> None:
    """Write (or rewrite) one record and its children in one transaction."""
    await upsert_records(engine, [record], written_at, crm=crm)


@dataclass(frozen=True)
class TranscriptRequest:
    """A visitor's "email me the transcript" (the ``transcript`` frame), to be sent by
    ``records/transcripts.py`` once the chat's record is written."""

    id: str
    """The outbox entry id: queueing the same request twice is a no-op."""
    chat_id: str
    email: str
    requested_at: int


async def upsert_records(
    engine: AsyncEngine,
    records: Sequence[InteractionRecord],
    written_at: int,
    *,
    crm: bool = False,
    transcripts: Sequence[TranscriptRequest] = (),
) -> None:
    """Write (or rewrite) records and their children in one transaction, a few statements
    for the whole batch (the records writer's batch: one commit instead of one per
    record).  A chat named twice is written once, with its last record.  Transcript
    e-mails asked for are queued in the same transaction."""
    latest = {r.chat_id: r for r in records}
    if not latest and not transcripts:
        return
    batch = list(latest.values())
    ids = list(latest)
    rows = [record_row(r, written_at) for r in batch]
    async with engine.begin() as conn:
        insert = _insert(conn.dialect.name)
        if transcripts:
            await conn.execute(
                insert(transcript_emails).on_conflict_do_nothing(index_elements=["id"]),
                [
                    {
                        "id": t.id,
                        "chat_id": clean(t.chat_id, 64),
                        "email": clean(t.email, 254),
                        "requested_at": t.requested_at,
                        "attempts": 0,
                        "next_attempt_at": written_at,
                        "sent_at": None,
                        "last_error": "",
                    }
                    for t in transcripts
                ],
            )
        if not rows:
            return
        stmt = insert(interactions)
        changes = {k: stmt.excluded[k] for k in rows[0] if k != "chat_id"}
        # a rating that arrived after the first write is never lost by a rewrite
        changes["rating"] = func.coalesce(stmt.excluded.rating, interactions.c.rating)
        changes["nps"] = func.coalesce(stmt.excluded.nps, interactions.c.nps)
        changes["rating_comment"] = func.coalesce(
            func.nullif(stmt.excluded.rating_comment, ""), interactions.c.rating_comment
        )
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=["chat_id"], set_=changes), rows
        )
        for table in (interaction_messages, interaction_agents, interaction_events):
            await conn.execute(delete(table).where(table.c.chat_id.in_(ids)))
        messages = [
            {
                "chat_id": r.chat_id,
                "seq": m.seq,
                "at": m.at,
                "sender_role": clean(m.sender_role, 16),
                "sender_id": clean(m.sender_id, 64),
                "sender_name": clean(m.sender_name, 256),
                "kind": clean(m.kind, 16),
                "internal": m.internal,
                "text": clean(m.text),
                "file": json.dumps(m.file, ensure_ascii=False) if m.file else None,
            }
            for r in batch
            for m in r.messages
        ]
        if messages:
            await conn.execute(interaction_messages.insert(), messages)
        agents = [
            {
                "chat_id": r.chat_id,
                "idx": i,
                "agent_id": a.agent_id,
                "joined_at": a.joined_at,
                "left_at": a.left_at,
                "left_reason": a.left_reason,
            }
            for r in batch
            for i, a in enumerate(r.agents)
        ]
        if agents:
            await conn.execute(interaction_agents.insert(), agents)
        events = [
            {
                "chat_id": r.chat_id,
                "idx": i,
                "kind": e.kind,
                "at": e.at,
                "agent_id": clean(e.agent, 64),
                "detail": clean(e.detail, 256),
                "result": e.result,
            }
            for r in batch
            for i, e in enumerate(r.events)
        ]
        if events:
            await conn.execute(interaction_events.insert(), events)
        if crm:
            await conn.execute(
                insert(crm_deliveries).on_conflict_do_nothing(index_elements=["chat_id"]),
                [
                    {
                        "chat_id": chat_id,
                        "attempts": 0,
                        "next_attempt_at": written_at,
                        "last_error": "",
                    }
                    for chat_id in ids
                ],
            )


async def set_rating(
    engine: AsyncEngine, chat_id: str, rating: int, comment: str, nps: int | None = None
) -> bool:
    """Put a late rating (and NPS answer, when given) on an existing record; False if the
    record is not written yet (it will carry the rating when it is)."""
    values: dict[str, Any] = {"rating": rating, "rating_comment": comment}
    if nps is not None:
        values["nps"] = nps
    async with engine.begin() as conn:
        result = await conn.execute(
            update(interactions).where(interactions.c.chat_id == chat_id).values(**values)
        )
        return bool(result.rowcount)


async def insert_status_changes(
    engine: AsyncEngine, rows: Sequence[tuple[str, str, str, int]]
) -> None:
    """(stream id, agent, status, ms) rows; repeats are ignored."""
    if not rows:
        return
    async with engine.begin() as conn:
        insert = _insert(conn.dialect.name)
        await conn.execute(
            insert(agent_status_changes)
            .values([{"id": i, "agent_id": a, "status": s, "at": t} for i, a, s, t in rows])
            .on_conflict_do_nothing(index_elements=["id"])
        )


async def record_exists(engine: AsyncEngine, chat_id: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(interactions.c.chat_id).where(interactions.c.chat_id == chat_id)
        )
        return found.first() is not None
