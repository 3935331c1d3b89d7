"""The visitor's session: start a chat, write, leave."""

from __future__ import annotations

from typing import Any

from chatserver.clock import new_id
from chatserver.core.lifecycle import ChatState, IllegalTransition, visitor_leave_event
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.session import PROTOCOL_VERSION, Session
from chatserver.protocol import (
    ErrorCode,
    Leave,
    ProtocolError,
    Start,
    VisitorFrame,
    decode_visitor,
)
from chatserver.store.messages import participant


class VisitorSession(Session):
    role = "visitor"

    def __init__(
        self, node: Node, conn: Connection, *, new_token: str | None, user_agent: str
    ) -> None:
        super().__init__(node, conn)
        self.new_token = new_token
        self.user_agent = user_agent[:512]
        self.handlers[Start] = self.on_start
        self.handlers[Leave] = self.on_leave

    def decode(self, data: bytes) -> VisitorFrame:
        return decode_visitor(data)

    async def welcome(self) -> dict[str, Any]:
        node = self.node
        chat_id = await node.routing.visitor_open_chat(self.conn.subject)
        chat = await node.chat_info(chat_id, for_agent=False) if chat_id else None
        if chat is not None:
            await node.redis.zrem(node.keys.visitor_gone, chat["id"])
            if chat["state"] in (ChatState.QUEUED.value, ChatState.OFFERED.value,
                                 ChatState.ACTIVE.value):
                node.watch_position(chat["id"], chat["topic"])
        frame: dict[str, Any] = {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "role": "visitor",
            "visitor": self.conn.subject,
            "chat": chat,
            "limits": self.limits(),
        }
        if self.new_token:
            frame["token"] = self.new_token
        return frame

    async def may_read(self, chat_id: str) -> bool:
        chat = await self.node.routing.get_chat(chat_id)
        return chat is not None and chat.visitor == self.conn.subject

    async def on_start(self, frame: Start) -> dict[str, Any]:
        node = self.node
        topic_name = (frame.topic or node.settings.default_topic).strip().lower()
        topic = await node.topic(topic_name)
        if topic is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TOPIC, f"unknown topic {topic_name!r}",
                topics=sorted(await node.topics()),
            )
        details = {
            "name": frame.name or "",
            "email": frame.email or "",
            "page": frame.page or "",
            "referrer": frame.referrer or "",
            "locale": frame.locale or "",
            "user_agent": self.user_agent,
            "fields": dict(frame.fields),
        }
        if frame.name:
            self.conn.name = frame.name
        chat_id = new_id("c")
        created, chat_id = await node.routing.create_chat(
            chat_id, self.conn.subject, topic, details, node.now()
        )
        if not created:
            raise ProtocolError(ErrorCode.CHAT_OPEN, "you already have an open chat", chat=chat_id)
        await node.messages.open_chat(chat_id, [participant("visitor", self.conn.subject)])
        await node.redis.hset(node.keys.visitor(self.conn.subject), "name", self.conn.name)
        await self.conn.follow(chat_id, 0)
        info = await node.chat_info(chat_id, for_agent=False)
        node.watch_position(chat_id, topic.name)
        node.request_drain()
        await node.queues_changed()
        # other tabs of the same visitor follow the new chat too
        await node.notify_visitor(self.conn.subject, {"type": "chat", "chat": info}, follow=chat_id)
        return {"type": "chat", "chat": info}

    async def on_leave(self, frame: Leave) -> dict[str, Any]:
        chat = await self.node.routing.get_chat(frame.chat)
        if chat is None or chat.visitor != self.conn.subject:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=frame.chat)
        try:
            event = visitor_leave_event(chat.state)
        except IllegalTransition as exc:
            raise ProtocolError(ErrorCode.INVALID_STATE, str(exc), chat=frame.chat) from None
        reason = await self.node.end_chat(
            frame.chat, event, by=self.conn.participant, outcome="visitor_left"
        )
        if reason != "ok":
            raise ProtocolError(ErrorCode.INVALID_STATE, f"cannot end the chat: {reason}")
        return {"type": "ok", "chat": frame.chat}
