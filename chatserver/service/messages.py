"""What both roles do inside a chat: write, type, mark read, read history, resume, and
who may read a chat.  Per-connection limits (text length, message and typing rates) are
the session's; the rules on the chat are here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from chatserver.core.lifecycle import ChatState
from chatserver.protocol import ErrorCode, ProtocolError
from chatserver.service.actor import Actor
from chatserver.store.chat_state import ChatRecord
from chatserver.store.messages import LogEntry
from chatserver.telemetry import metrics

if TYPE_CHECKING:
    from chatserver.hub.node import Node


@dataclass(frozen=True, slots=True)
class Ack:
    chat: str
    cid: str
    seq: int
    dup: bool

    def frame(self) -> dict[str, Any]:
        return {"type": "ack", "chat": self.chat, "cid": self.cid, "seq": self.seq, "dup": self.dup}


@dataclass(frozen=True, slots=True)
class HistoryPage:
    chat: str
    complete: bool
    trimmed: bool
    entries: list[LogEntry]


class MessageActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def may_read(self, actor: Actor, chat_id: str) -> bool:
        return may_read(actor, await self.node.chats.get_chat(chat_id))

    async def require_chat(self, chat_id: str) -> None:
        if await self.node.chats.get_chat(chat_id) is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such chat", chat=chat_id)

    async def require_reader(self, actor: Actor, chat_id: str) -> None:
        if not await self.may_read(actor, chat_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)

    async def post(
        self,
        actor: Actor,
        chat_id: str,
        cid: str,
        text: str,
        *,
        kind: str,
        audience: str,
        system: bool = False,
        file: dict[str, Any] | None = None,
    ) -> Ack:
        """``file``: an attachment already stored (``{id, name, size, type}``)."""
        node = self.node
        messages = node.messages
        args = dict(
            role=actor.role,
            sender_id=actor.id,
            sender_name=actor.name,
            cid=cid,
            text=text,
            kind=kind,
            audience=audience,
            system=system,
            origin=actor.connection,  # the ack tells this connection; others get the msg
            file=msgspec.msgpack.encode(file) if file else b"",
        )
        with metrics.timed(metrics.REDIS["post"]):
            result = await messages.post(chat_id, now_ms=node.now(), **args)  # type: ignore[arg-type]
        if result.status == "forbidden" and await self._repair_participation(actor, chat_id):
            result = await messages.post(chat_id, now_ms=node.now(), **args)  # type: ignore[arg-type]
        if result.status == "forbidden":
            raise ProtocolError(ErrorCode.FORBIDDEN, "you cannot write in this chat", chat=chat_id)
        if result.status == "closed":
            raise ProtocolError(ErrorCode.INVALID_STATE, "the chat is not open", chat=chat_id)
        if result.status != "dup":
            metrics.POSTED[actor.role].inc()
        return Ack(chat_id, cid, result.seq, result.status == "dup")

    async def _repair_participation(self, actor: Actor, chat_id: str) -> bool:
        """An agent's participation is written after the routing step; if the process
        died in between, rebuild it from the routing state."""
        if actor.role != "agent":
            return False
        chat = await self.node.chats.get_chat(chat_id)
        if chat is None or chat.agent != actor.id or chat.state is not ChatState.ACTIVE:
            return False
        await self.node.messages.set_participants(chat_id, add=[actor.participant])
        return True

    async def typing(
        self, actor: Actor, chat_id: str, on: bool, *, preview: str | None = None
    ) -> None:
        """Relay a typing indicator to everyone following the chat or, with ``preview``
        (the visitor's draft), to its agents and supervisors only.  Never stored."""
        messages = self.node.messages
        meta = await messages.meta(chat_id)
        if meta.get(f"p:{actor.participant}") != "1" or meta.get("open") != "1":
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)
        frame: dict[str, Any] = {
            "type": "typing",
            "chat": chat_id,
            "from": {"role": actor.role, "id": actor.id, "name": actor.name},
            "on": on,
        }
        if preview is not None:
            frame["text"] = preview
        await messages.publish(chat_id, frame, agents_only=preview is not None)

    async def read(self, actor: Actor, chat_id: str, seq: int) -> None:
        messages = self.node.messages
        stored, moved = await messages.mark_read(chat_id, actor.participant, seq)
        if stored < 0:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)
        if moved:
            await messages.publish(
                chat_id,
                {
                    "type": "read",
                    "chat": chat_id,
                    "by": {"role": actor.role, "id": actor.id},
                    "seq": stored,
                },
            )

    async def resume(self, actor: Actor, chat_id: str) -> dict[str, Any]:
        """The chat's view for a client coming back to it, read with its record in one
        round trip (the caller then relays the messages it missed)."""
        chat, info = await self.node.views.read(chat_id, for_agent=actor.role == "agent")
        if not may_read(actor, chat) or info is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)
        if info["state"] == ChatState.OFFLINE.value:
            raise ProtocolError(
                ErrorCode.INVALID_STATE,
                "this chat is an offline message: it has no conversation to resume",
                chat=chat_id,
            )
        return info

    async def history(
        self, actor: Actor, chat_id: str, before: int | None, limit: int, *, internal: bool
    ) -> HistoryPage:
        await self.require_reader(actor, chat_id)
        complete, trimmed, entries = await self.node.messages.read_before(
            chat_id,
            before,
            limit,
            internal=internal,
            max_bytes=self.node.settings.history_page_bytes,
        )
        return HistoryPage(chat_id, complete, trimmed, entries)


def may_read(actor: Actor, chat: ChatRecord | None) -> bool:
    """Visitors read their own chats; agents the chats they hold; supervisors any."""
    if chat is None:
        return False
    if actor.role == "visitor":
        return chat.visitor == actor.id
    return actor.supervisor or chat.agent == actor.id
