"""The inbox of offline messages: records in the end state ``offline``, each open (no
reply yet) or answered, claimed by at most one agent (``docs/inbox.md``).

Every change is one SQL ``UPDATE`` whose ``WHERE`` holds the condition, so two agents who
claim (or reply) at once cannot both win: the database serialises the two statements and
the second one matches no row.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.core.inbox import claim_refusal, reply_refusal
from chatserver.records.database import clean
from chatserver.records.schema import interaction_messages, interactions

Status = Literal["open", "answered"]
OFFLINE = "offline"

ITEM_COLUMNS = [
    interactions.c.chat_id,
    interactions.c.topic,
    interactions.c.visitor_id,
    interactions.c.visitor_name,
    interactions.c.visitor_email,
    interactions.c.locale,
    interactions.c.page_url,
    interactions.c.created_at,
    interactions.c.claimed_by,
    interactions.c.claimed_at,
    interactions.c.reply,
    interactions.c.replied_at,
    interactions.c.replied_by,
]


class InboxError(Exception):
    """Why a claim or reply was refused: ``code`` is the API's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _item(row: Any, text: str) -> dict[str, Any]:
    item = dict(row._mapping)
    item["status"] = "answered" if item["reply"] is not None else "open"
    item["text"] = text
    return item


async def _texts(conn: Any, chat_ids: list[str]) -> dict[str, str]:
    """The visitor's message of each offline chat (its first message)."""
    if not chat_ids:
        return {}
    rows = await conn.execute(
        select(interaction_messages.c.chat_id, interaction_messages.c.text)
        .where(
            interaction_messages.c.chat_id.in_(chat_ids), interaction_messages.c.internal.is_(False)
        )
        .order_by(interaction_messages.c.chat_id, interaction_messages.c.seq)
    )
    texts: dict[str, str] = {}
    for chat_id, text in rows:
        texts.setdefault(chat_id, text)
    return texts


async def list_items(
    engine: AsyncEngine,
    *,
    topic: str | None,
    status: Status | None,
    limit: int,
    claimed_by: str | None = None,
) -> list[dict[str, Any]]:
    """Offline messages, newest first, with the visitor's text."""
    conditions = [interactions.c.end_state == OFFLINE]
    if claimed_by is not None:
        conditions.append(interactions.c.claimed_by == claimed_by)
    if topic:
        conditions.append(interactions.c.topic == topic)
    if status == "open":
        conditions.append(interactions.c.reply.is_(None))
    elif status == "answered":
        conditions.append(interactions.c.reply.is_not(None))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(*ITEM_COLUMNS)
                .where(and_(*conditions))
                .order_by(interactions.c.ended_at.desc(), interactions.c.chat_id.desc())
                .limit(limit)
            )
        ).all()
        texts = await _texts(conn, [r.chat_id for r in rows])
    return [_item(r, texts.get(r.chat_id, "")) for r in rows]


async def get_item(engine: AsyncEngine, chat_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(*ITEM_COLUMNS).where(
                    interactions.c.chat_id == chat_id, interactions.c.end_state == OFFLINE
                )
            )
        ).first()
        if row is None:
            return None
        texts = await _texts(conn, [chat_id])
    return _item(row, texts.get(chat_id, ""))


async def claim(engine: AsyncEngine, chat_id: str, agent_id: str, now_ms: int) -> dict[str, Any]:
    """Claim an open message for ``agent_id``: one conditional UPDATE (the first of two
    agents at once wins; the other gets ``claimed``).  Claiming one's own again is a no-op."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(interactions)
            .where(
                interactions.c.chat_id == chat_id,
                interactions.c.end_state == OFFLINE,
                interactions.c.claimed_by.is_(None),
                interactions.c.reply.is_(None),
            )
            .values(claimed_by=agent_id, claimed_at=now_ms)
        )
        won = bool(result.rowcount)
    item = await get_item(engine, chat_id)
    if item is None:
        raise InboxError(404, "not_found", "no such offline message")
    if (
        not won
        and (refusal := claim_refusal(item["claimed_by"], item["reply"] is not None, agent_id))
        is not None
    ):
        raise InboxError(refusal.status, refusal.code, refusal.message)
    return item


async def start_reply(
    engine: AsyncEngine, chat_id: str, agent_id: str, text: str, now_ms: int
) -> dict[str, Any]:
    """Store the reply if the message is claimed by ``agent_id`` and not answered yet (one
    conditional UPDATE, before the e-mail goes: two replies at once send one e-mail).  The
    item as it was before (with the visitor's address and text)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(interactions)
            .where(
                interactions.c.chat_id == chat_id,
                interactions.c.end_state == OFFLINE,
                interactions.c.claimed_by == agent_id,
                interactions.c.reply.is_(None),
            )
            .values(reply=clean(text), replied_at=now_ms, replied_by=agent_id)
        )
        won = bool(result.rowcount)
    item = await get_item(engine, chat_id)
    if not won:
        check_reply(item, agent_id)
    assert item is not None
    return item


def check_reply(item: dict[str, Any] | None, agent_id: str) -> None:
    """Why ``agent_id`` may not reply to ``item`` (InboxError), if they may not."""
    if item is None:
        raise InboxError(404, "not_found", "no such offline message")
    refusal = reply_refusal(item["claimed_by"], item["reply"] is not None, agent_id)
    if refusal is not None:
        raise InboxError(refusal.status, refusal.code, refusal.message)


async def undo_reply(engine: AsyncEngine, chat_id: str, agent_id: str, replied_at: int) -> None:
    """The e-mail could not be sent: the message is open again (still claimed)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(interactions)
            .where(
                interactions.c.chat_id == chat_id,
                interactions.c.replied_by == agent_id,
                interactions.c.replied_at == replied_at,
            )
            .values(reply=None, replied_at=None, replied_by=None)
        )
