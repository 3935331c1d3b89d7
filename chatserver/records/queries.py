"""Reading records: search with filters and a stable cursor, fetch one, export.

Order is newest end first, then chat id (``ended_at DESC, chat_id DESC``): stable under
concurrent writes because the cursor names the last row seen, not an offset.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.records.nps import classify
from chatserver.records.schema import (
    interaction_agents,
    interaction_events,
    interaction_messages,
    interactions,
    transcript_emails,
)

SUMMARY_COLUMNS = [
    c
    for c in interactions.c
    if c.name not in ("search_text", "tags_text", "skills_text", "agent_ids")
]


@dataclass(frozen=True)
class Filters:
    start_ms: int | None = None
    end_ms: int | None = None
    """Records whose chat ended in [start_ms, end_ms)."""
    agent: str | None = None
    topic: str | None = None
    skill: str | None = None
    outcome: str | None = None
    end_state: str | None = None
    tag: str | None = None
    email: str | None = None
    visitor: str | None = None
    name: str | None = None
    """Part of the visitor's name (case-insensitive for ASCII letters on SQLite, for every
    letter on PostgreSQL)."""
    rating_min: int | None = None
    rating_max: int | None = None
    """Rated within [rating_min, rating_max] (1-5); either bound may be absent."""
    unrated: bool = False
    """Only records with no rating."""
    chat_ids: Sequence[str] = ()
    """Only these chats (a selection to export); empty: any chat."""
    words: Sequence[str] = ()
    """Every word must appear in the transcript (case-insensitive, any language)."""


@dataclass(frozen=True)
class Viewer:
    """Who is reading: supervisors and admins see everything (and agents too when
    AGENTS_SEE_ALL_RECORDS is set); an agent sees the chats they took part in and every
    chat of the visitors they are serving now."""

    agent_id: str
    sees_all: bool
    serving_visitors: frozenset[str] = field(default_factory=frozenset)


class CursorError(ValueError):
    pass


def encode_cursor(ended_at: int, chat_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ended_at}:{chat_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ended, _, chat = raw.partition(":")
        return int(ended), chat
    except (ValueError, UnicodeDecodeError):
        raise CursorError("bad cursor") from None


def _where(query: Select[Any], f: Filters, viewer: Viewer) -> Select[Any]:
    t = interactions.c
    conditions: list[Any] = []
    if f.start_ms is not None:
        conditions.append(t.ended_at >= f.start_ms)
    if f.end_ms is not None:
        conditions.append(t.ended_at < f.end_ms)
    if f.agent:
        conditions.append(t.agent_ids.contains(f"|{f.agent}|", autoescape=True))
    if f.topic:
        conditions.append(t.topic == f.topic)
    if f.skill:
        conditions.append(t.skills_text.contains(f"|{f.skill}|", autoescape=True))
    if f.outcome:
        conditions.append(t.outcome == f.outcome)
    if f.end_state:
        conditions.append(t.end_state == f.end_state)
    if f.tag:
        conditions.append(t.tags_text.contains(f"|{f.tag}|", autoescape=True))
    if f.email:
        conditions.append(t.visitor_email == f.email.lower())
    if f.visitor:
        conditions.append(t.visitor_id == f.visitor)
    if f.name:
        conditions.append(t.visitor_name.icontains(f.name, autoescape=True))
    if f.rating_min is not None:
        conditions.append(t.rating >= f.rating_min)
    if f.rating_max is not None:
        conditions.append(t.rating <= f.rating_max)
    if f.unrated:
        conditions.append(t.rating.is_(None))
    if f.chat_ids:
        conditions.append(t.chat_id.in_(sorted(set(f.chat_ids))))
    for word in f.words:
        conditions.append(t.search_text.contains(word.casefold(), autoescape=True))
    if not viewer.sees_all:
        mine = t.agent_ids.contains(f"|{viewer.agent_id}|", autoescape=True)
        if viewer.serving_visitors:
            mine = or_(mine, t.visitor_id.in_(sorted(viewer.serving_visitors)))
        conditions.append(mine)
    return query.where(and_(*conditions)) if conditions else query


_OPTIONAL = ("agent_id", "result", "left_reason", "detail")


def _message(row: Any) -> dict[str, Any]:
    out = _row(row)
    out["file"] = json.loads(out["file"]) if out.get("file") else None
    return out


def _row(row: Any) -> dict[str, Any]:
    """A row as a map; empty optional texts become null, as in the record model."""
    out = dict(row._mapping)
    for key in _OPTIONAL:
        if out.get(key) == "":
            out[key] = None
    if "notices" in out and out["notices"] is None:
        out["notices"] = []  # written before notices existed
    return out


async def search(
    engine: AsyncEngine, f: Filters, viewer: Viewer, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of record summaries and the cursor of the next page (None at the end)."""
    t = interactions.c
    query = _where(select(*SUMMARY_COLUMNS), f, viewer)
    if cursor:
        ended, chat = decode_cursor(cursor)
        query = query.where(or_(t.ended_at < ended, and_(t.ended_at == ended, t.chat_id < chat)))
    query = query.order_by(t.ended_at.desc(), t.chat_id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = [_row(r) for r in await conn.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["ended_at"], rows[-1]["chat_id"])
    return rows, next_cursor


async def fetch(engine: AsyncEngine, chat_id: str, viewer: Viewer) -> dict[str, Any] | None:
    """The whole record: summary, transcript, agents and events (None if not visible)."""
    query = _where(select(*SUMMARY_COLUMNS), Filters(), viewer).where(
        interactions.c.chat_id == chat_id
    )
    async with engine.connect() as conn:
        found = (await conn.execute(query)).first()
        if found is None:
            return None
        record = _row(found)
        messages = await conn.execute(
            select(interaction_messages)
            .where(interaction_messages.c.chat_id == chat_id)
            .order_by(interaction_messages.c.seq)
        )
        record["messages"] = [_message(m) for m in messages]
        agents = await conn.execute(
            select(interaction_agents)
            .where(interaction_agents.c.chat_id == chat_id)
            .order_by(interaction_agents.c.idx)
        )
        record["agents"] = [_row(a) for a in agents]
        events = await conn.execute(
            select(interaction_events)
            .where(interaction_events.c.chat_id == chat_id)
            .order_by(interaction_events.c.idx)
        )
        record["events"] = [_row(e) for e in events]
        t = transcript_emails.c
        emails = await conn.execute(
            select(t.email, t.requested_at, t.sent_at)
            .where(t.chat_id == chat_id)
            .order_by(t.requested_at, t.id)
        )
        record["transcript_emails"] = [_row(e) for e in emails]
    for part in ("messages", "agents", "events"):
        for item in record[part]:
            item.pop("chat_id", None)
    return record


CSV_COLUMNS = [
    "chat_id",
    "created_at",
    "ended_at",
    "topic",
    "end_state",
    "outcome",
    "agent_id",
    "visitor_name",
    "visitor_email",
    "page_url",
    "locale",
    "rating",
    "rating_comment",
    "wait_s",
    "handle_s",
    "tags",
    "message_count",
    "nps",
    "nps_group",
    "notices",
]


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _safe_cell(value: Any) -> str:
    """Spreadsheet-safe: a cell that a spreadsheet would run as a formula gets a quote."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def csv_line(row: dict[str, Any]) -> str:
    accepted = row.get("accepted_at")
    values = {
        **row,
        "created_at": _iso(row["created_at"]),
        "ended_at": _iso(row["ended_at"]),
        "wait_s": "" if accepted is None else (accepted - row["created_at"]) / 1000,
        "handle_s": "" if accepted is None else (row["ended_at"] - accepted) / 1000,
        "tags": " ".join(row.get("tags") or []),
        "notices": " ".join(row.get("notices") or []),
        "nps_group": "" if row.get("nps") is None else classify(row["nps"]),
    }
    out = io.StringIO()
    csv.writer(out).writerow([_safe_cell(values.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


async def export_csv(engine: AsyncEngine, f: Filters, viewer: Viewer) -> AsyncIterator[str]:
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    yield out.getvalue()
    cursor: str | None = None
    while True:
        rows, cursor = await search(engine, f, viewer, limit=500, cursor=cursor)
        for row in rows:
            yield csv_line(row)
        if cursor is None:
            return


async def export_json(
    engine: AsyncEngine, f: Filters, viewer: Viewer, *, internal: bool
) -> AsyncIterator[str]:
    """A JSON array of whole records with their transcripts."""
    yield "["
    first = True
    cursor: str | None = None
    while True:
        rows, cursor = await search(engine, f, viewer, limit=200, cursor=cursor)
        for row in rows:
            record = await fetch(engine, row["chat_id"], viewer)
            if record is None:
                continue
            if not internal:
                record["messages"] = [m for m in record["messages"] if not m["internal"]]
            yield ("" if first else ",") + json.dumps(record, ensure_ascii=False)
            first = False
        if cursor is None:
            break
    yield "]"
