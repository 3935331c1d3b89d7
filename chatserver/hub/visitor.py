"""The visitor's session: start a chat, write, leave."""

from __future__ import annotations

import asyncio
from typing import Any

from chatserver.clock import new_id
from chatserver.core.availability import missing_fields
from chatserver.core.lifecycle import ChatState, IllegalTransition, visitor_leave_event
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.session import PROTOCOL_VERSION, Session
from chatserver.protocol import (
    ErrorCode,
    Leave,
    Offline,
    ProtocolError,
    Rate,
    Start,
    VisitorFrame,
    decode_visitor,
)
from chatserver.store.codec import text
from chatserver.store.config import is_open
from chatserver.store.messages import participant

_OPEN = (ChatState.QUEUED.value, ChatState.OFFERED.value, ChatState.ACTIVE.value)


class VisitorSession(Session):
    role = "visitor"

    __slots__ = ("new_token", "user_agent")

    HANDLERS = {
        **Session.HANDLERS,
        Start: "on_start",
        Leave: "on_leave",
        Rate: "on_rate",
        Offline: "on_offline",
    }

    def __init__(
        self, node: Node, conn: Connection, *, new_token: str | None, user_agent: str
    ) -> None:
        super().__init__(node, conn)
        self.new_token = new_token
        self.user_agent = user_agent[:512]

    def decode(self, data: bytes) -> VisitorFrame:
        return decode_visitor(data)

    async def welcome(self) -> dict[str, Any]:
        node = self.node
        # a new visitor (their token is in this welcome) has no chat yet: no read
        chat_id = "" if self.new_token else text(
            await node.redis.hget(node.keys.visitor(self.conn.subject), "chat")
        )
        chat = await node.views.one(chat_id, for_agent=False) if chat_id else None
        if chat is not None and chat["state"] == ChatState.QUEUED.value:
            node.positions.watch(chat["id"], chat["topic"])
        availability = await node.availability.current()
        notices = self._notices_for(chat)
        frame: dict[str, Any] = {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "role": "visitor",
            "visitor": self.conn.subject,
            "chat": chat,
            "agents_available": availability["agents_available"],
            "availability": availability,
            "limits": self.limits(),
            "notices": notices,
        }
        if self.new_token:
            frame["token"] = self.new_token
            self.new_token = None  # sent once; not kept for the life of the socket
        # sent by the caller right away (no await in between): changes from now on
        # reach this connection as ``availability`` frames, after its welcome
        node.availability.welcomed(self.conn)
        return frame

    def _notices_for(self, chat: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The outage notices this visitor sees: those of their waiting chat's topic (then
        remembered for its record), none while an agent has it, every one in force when
        they have no open chat (the widget shows those of the topic they pick)."""
        node = self.node
        if chat is None or chat["state"] not in _OPEN:
            return node.notices.for_topic(None)
        if chat["state"] == ChatState.ACTIVE.value:
            return []
        notices = node.notices.for_topic(chat["topic"])
        node.notices.seen(chat["id"], notices)
        return notices

    async def may_read(self, chat_id: str) -> bool:
        chat = await self.node.routing.get_chat(chat_id)
        return chat is not None and chat.visitor == self.conn.subject

    async def on_start(self, frame: Start) -> dict[str, Any]:
        node = self.node
        topic_name = (frame.topic or node.settings.default_topic).strip().lower()
        await self.check_start(frame)
        topic = await node.catalog.topic(topic_name)
        if topic is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TOPIC, f"unknown topic {topic_name!r}",
                topics=sorted(await node.catalog.topics()),
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
        # independent steps, issued together: the shared Redis connection carries them in
        # one write (store/multiplex.py) instead of one round trip each
        _, _, _, info = await asyncio.gather(
            node.messages.open_chat(chat_id, [participant("visitor", self.conn.subject)]),
            node.redis.hset(node.keys.visitor(self.conn.subject), "name", self.conn.name),
            self.conn.follow(chat_id, 0),
            node.views.one(chat_id, for_agent=False),
        )
        node.positions.watch(chat_id, topic.name)
        # the notices of this topic were in the pre-chat form: the record names them
        node.notices.seen(chat_id, node.notices.for_topic(topic.name))
        node.drainer.request()
        await asyncio.gather(
            node.notifier.queues_changed(),
            # other tabs of the same visitor follow the new chat too
            node.notifier.visitor(
                self.conn.subject, {"type": "chat", "chat": info}, follow=chat_id
            ),
        )
        return {"type": "chat", "chat": info}

    async def check_start(self, frame: Start) -> None:
        """The widget's rules, enforced here too: business hours, then the required
        pre-chat fields (see ``core.availability``)."""
        node = self.node
        settings = await node.catalog.widget_settings()
        if not is_open(settings, node.now()):
            raise ProtocolError(
                ErrorCode.OUTSIDE_HOURS,
                "outside business hours: leave a message instead", offline=True,
            )
        missing = missing_fields(
            settings.required_fields, settings.prechat_fields,
            {"name": frame.name, "email": frame.email, "topic": frame.topic},
            len(await node.catalog.topics()),
        )
        if missing:
            raise ProtocolError(
                ErrorCode.MISSING_FIELDS,
                "required: " + ", ".join(
                    "a valid email address" if f == "email" else f for f in missing
                ),
                fields=missing,
            )

    async def on_leave(self, frame: Leave) -> dict[str, Any]:
        chat = await self.node.routing.get_chat(frame.chat)
        if chat is None or chat.visitor != self.conn.subject:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=frame.chat)
        try:
            event = visitor_leave_event(chat.state)
        except IllegalTransition as exc:
            raise ProtocolError(ErrorCode.INVALID_STATE, str(exc), chat=frame.chat) from None
        reason = await self.node.actions.end(
            frame.chat, event, by=self.conn.participant, outcome="visitor_left"
        )
        if reason != "ok":
            raise ProtocolError(ErrorCode.INVALID_STATE, f"cannot end the chat: {reason}")
        return {"type": "ok", "chat": frame.chat}

    async def on_rate(self, frame: Rate) -> dict[str, Any]:
        reason = await self.node.routing.rate(
            frame.chat, self.conn.subject, frame.rating, frame.comment, self.node.now(),
            frame.nps,
        )
        if reason == "ok":
            return {"type": "ok", "chat": frame.chat}
        code = {
            "not_found": ErrorCode.NOT_FOUND, "forbidden": ErrorCode.FORBIDDEN,
        }.get(reason, ErrorCode.INVALID_STATE)
        message = {
            "not_ended": "a chat can be rated once it has ended",
            "too_late": "the time to rate this chat has passed",
        }.get(reason, reason.replace("_", " "))
        raise ProtocolError(code, message, chat=frame.chat)

    async def on_offline(self, frame: Offline) -> dict[str, Any]:
        """Leave a message for when someone is back: recorded at once as an interaction
        record with end state ``offline``."""
        node = self.node
        self.check_text(frame.text)
        if not self.rates.message_rate.allow(node.now()):
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
        if "@" not in frame.email:
            raise ProtocolError(ErrorCode.BAD_FRAME, "a valid email address is required")
        topic_name = (frame.topic or node.settings.default_topic).strip().lower()
        if await node.catalog.topic(topic_name) is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TOPIC, f"unknown topic {topic_name!r}")
        notice_id = frame.notice or ""
        if notice_id and notice_id not in node.notices.notices:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such notice in force", notice=notice_id)
        chat_id = new_id("c")
        now = node.now()
        details = {
            "name": frame.name or "", "email": frame.email, "page": frame.page or "",
            "referrer": "", "locale": frame.locale or "", "user_agent": self.user_agent,
            # "email me when this is resolved": the message is linked to the notice
            "fields": {"notice": notice_id} if notice_id else {},
        }
        await node.routing.create_offline(chat_id, self.conn.subject, topic_name, details, now)
        who = participant("visitor", self.conn.subject)
        await node.messages.open_chat(chat_id, [who])
        await node.messages.post(
            chat_id, role="visitor", sender_id=self.conn.subject,
            sender_name=frame.name or self.conn.name, cid=frame.rid or chat_id,
            text=frame.text, kind="message", audience="a", now_ms=now,
        )
        await node.messages.close_chat(chat_id)
        if notice_id:
            await node.notices.store.mark_seen([(chat_id, notice_id)], node.notices.seen_ttl_s)
        await node.routing.hand_to_outbox(chat_id, "offline", now)
        return {"type": "ok", "chat": chat_id}
