"""Outage notices' actions: posting one, ending one and closing the chats that wait in
its topics when it ends (``POST /api/notices/{id}/end`` with ``close_queued``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.notices import Notice, pick_text
from chatserver.store.messages import EVERYONE

if TYPE_CHECKING:
    from chatserver.hub.node import Node


async def in_force(node: Node) -> list[Notice]:
    return await node.notices.store.all(node.now())


async def post(node: Node, notice: Notice) -> bool:
    """Post ``notice`` (already validated); False when ``NOTICES_MAX_ACTIVE`` are in
    force already."""
    return await node.notices.store.post(notice, node.now(), node.settings.notices_max_active)


async def end(
    node: Node, notice_id: str, by: str, *, close: bool, message: dict[str, str]
) -> tuple[Notice | None, int]:
    """End a notice: (the notice, chats closed), or (None, 0) when none is in force by
    that id.  With ``close``, the chats waiting in its topics are closed."""
    notice = await node.notices.store.end(notice_id)
    if notice is None or not close:
        return notice, 0
    return notice, await close_queued(node, notice, by, message, node.settings.notice_close_batch)


async def close_queued(
    node: Node, notice: Notice, by: str, message: dict[str, str], batch: int
) -> int:
    """Close every chat waiting in the notice's topics (every topic when it names none)
    with a last message in the visitor's language and the outcome ``incident``; ``batch``
    chats at a time.  Returns how many it closed."""
    topics = list(notice.topics) or sorted(await node.catalog.topics())
    closed = 0
    for topic in topics:
        skip: set[str] = set()
        while True:
            ids = await node.reads.queue_head(topic, batch + len(skip))
            todo = [c for c in ids if c not in skip][:batch]
            if not todo:
                break
            results = await asyncio.gather(
                *(_close_one(node, chat_id, notice, by, message) for chat_id in todo)
            )
            for chat_id, ok in zip(todo, results, strict=True):
                if ok:
                    closed += 1
                else:
                    skip.add(chat_id)
    return closed + await _close_offered(node, set(topics), notice, by, message, batch)


async def _close_offered(
    node: Node, topics: set[str], notice: Notice, by: str, message: dict[str, str], batch: int
) -> int:
    """The chats offered to an agent and not accepted yet are not in their queue, but
    their visitors are still waiting for an answer: closed the same way."""
    ids = await node.reads.offered()
    if not ids:
        return 0
    found = await node.reads.waiting_topics(ids)
    todo = [
        chat_id
        for chat_id, (state, topic) in zip(ids, found, strict=True)
        if state == ChatState.OFFERED.value and topic in topics
    ]
    closed = 0
    for at in range(0, len(todo), batch):
        part = todo[at : at + batch]
        results = await asyncio.gather(
            *(_close_one(node, chat_id, notice, by, message) for chat_id in part)
        )
        closed += sum(results)
    return closed


async def _close_one(
    node: Node, chat_id: str, notice: Notice, by: str, message: dict[str, str]
) -> bool:
    chat = await node.chats.get_chat(chat_id)
    if chat is None:
        return False
    language = str(chat.details.get("locale", "")).split("-")[0].lower()
    text = pick_text(message or dict(notice.texts), language)
    with contextlib.suppress(RedisError):
        await node.messages.post(
            chat_id,
            role="system",
            sender_id="system",
            sender_name="",
            cid=f"notice-{notice.id}",
            text=text,
            kind="system",
            audience=EVERYONE,
            now_ms=node.now(),
            system=True,
        )
    reason = await node.actions.end(chat_id, ChatEvent.CLOSE, by=by, outcome="incident")
    return reason == "ok"
