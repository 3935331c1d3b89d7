"""What a client is told about a chat (the ``chat`` object of ``docs/protocol.md``):
state, topic, agent, sequence and read marks, queue position while queued, and for
agents the visitor's details, the offer deadline and the tags."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chatserver.core.lifecycle import ChatState
from chatserver.store.chat_state import ChatRecord, chat_record
from chatserver.store.routing import RoutingStore
from chatserver.store.views import DEFAULT_HANDLE_S, ChatReads

if TYPE_CHECKING:
    from chatserver.hub.availability import AvailabilityWatch

AGENT_ONLY = ("visitor", "offer_expires", "tags")
"""Fields of a chat view that only agents are shown."""


class ChatViews:
    def __init__(
        self, reads: ChatReads, routing: RoutingStore, availability: AvailabilityWatch
    ) -> None:
        self.reads = reads
        self.routing = routing
        self.availability = availability

    async def one(self, chat_id: str, *, for_agent: bool) -> dict[str, Any] | None:
        return (await self.many([chat_id], for_agent=for_agent))[0]

    async def read(
        self, chat_id: str, *, for_agent: bool
    ) -> tuple[ChatRecord | None, dict[str, Any] | None]:
        """A chat's record and its view, read together."""
        raw = (await self.reads.chats([chat_id]))[0]
        chat = chat_record(chat_id, raw[0])
        if chat is None:
            return None, None
        names = await self.reads.agent_names(_unnamed(chat.raw))
        queue = await self.position(chat.id, chat.topic) if chat.state is ChatState.QUEUED else None
        return chat, self.build(chat, raw[1], for_agent=for_agent, names=names, queue=queue)

    async def many(
        self, chat_ids: Sequence[str], *, for_agent: bool, reads: ChatReads | None = None
    ) -> list[dict[str, Any] | None]:
        """Views of many chats in one round trip (and one more per queued chat, and one
        for chats written before agents' names were kept in the chat), through ``reads``
        (default: the shared connection)."""
        reads = reads or self.reads
        return await self.built(chat_ids, await reads.chats(chat_ids), for_agent, reads)

    async def built(
        self,
        chat_ids: Sequence[str],
        raw: Sequence[tuple[Mapping[Any, Any], Mapping[str, str]]],
        for_agent: bool,
        reads: ChatReads | None = None,
    ) -> list[dict[str, Any] | None]:
        """Views of chats whose hash and message metadata were read already (``raw``:
        one pair per chat id); agents' names and queue positions are read if needed."""
        reads = reads or self.reads
        chats = [chat_record(c, r[0]) for c, r in zip(chat_ids, raw, strict=True)]
        names = await reads.agent_names(
            {a for c in chats if c is not None for a in _unnamed(c.raw)}
        )
        out: list[dict[str, Any] | None] = []
        for chat, (_, meta) in zip(chats, raw, strict=True):
            if chat is None:
                out.append(None)
                continue
            queue = (
                await self.position(chat.id, chat.topic) if chat.state is ChatState.QUEUED else None
            )
            out.append(self.build(chat, meta, for_agent=for_agent, names=names, queue=queue))
        return out

    async def queue_fields(
        self, topic: str, position: int, handle_s: float | None
    ) -> dict[str, Any]:
        """A queued chat's ``position``, ``available`` and (with an eligible agent online)
        ``eta_s``, from a position a script returned."""
        await self.availability.current()
        return self.availability.queue_fields(
            topic, position, DEFAULT_HANDLE_S if handle_s is None else handle_s
        )

    def build(
        self,
        chat: ChatRecord,
        meta: Mapping[str, str],
        *,
        for_agent: bool,
        names: Mapping[str, str] | None = None,
        queue: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The view of a chat from its hash and message metadata (``queue``: the queue
        fields of a queued chat; ``names``: agents' names the hash does not hold)."""
        names = names or {}
        info = chat.public()
        info["seq"] = int(meta.get("seq", 0))
        info["read"] = {k[5:]: int(v) for k, v in meta.items() if k.startswith("read:")}
        if chat.agent:
            name = chat.raw.get("agent_name") or names.get(chat.agent, chat.agent)
            info["agent"] = {"id": chat.agent, "name": name}
        if chat.state is ChatState.QUEUED and queue is not None:
            info.update(queue)
        if for_agent:
            info["visitor"] = {"id": chat.visitor, **chat.details}
            if "offer_deadline" in chat.raw:
                info["offer_expires"] = int(chat.raw["offer_deadline"])
        if chat.state not in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE):
            info["ended_by"] = chat.raw.get("ended_by", "")
            info["outcome"] = chat.raw.get("outcome", "")
            closer = _closer(chat.raw)
            if closer:
                # the name of the agent or supervisor who closed it, who may not be
                # the agent who held it
                info["ended_by_name"] = chat.raw.get("ended_by_name") or names.get(closer, closer)
        if for_agent:
            info["tags"] = _tags(chat.raw.get("tags", ""))
        return info

    async def position(self, chat_id: str, topic: str) -> dict[str, Any]:
        """``position``, ``available`` and (only with an eligible agent online) ``eta_s``."""
        position = await self.routing.queue_position(topic, chat_id) or 0
        avg = await self.reads.handle_time(topic)
        await self.availability.current()
        return self.availability.queue_fields(topic, position, avg)


def _unnamed(raw: Mapping[str, str]) -> list[str]:
    """Agents a chat's view names but its hash holds no name for (chats written before
    names were kept in the hash)."""
    out = []
    if raw.get("agent") and not raw.get("agent_name"):
        out.append(raw["agent"])
    closer = _closer(raw)
    if closer and not raw.get("ended_by_name"):
        out.append(closer)
    return out


def public(info: Mapping[str, Any]) -> dict[str, Any]:
    """An agent's view of a chat without what only agents see."""
    return {k: v for k, v in info.items() if k not in AGENT_ONLY}


def _closer(raw: Mapping[str, str]) -> str:
    """The agent id in ``ended_by`` (``agent:<id>`` or ``supervisor:<id>``), else ''."""
    role, _, who = raw.get("ended_by", "").partition(":")
    return who if role in ("agent", "supervisor") else ""


def _tags(raw: str) -> list[str]:
    try:
        tags = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []
