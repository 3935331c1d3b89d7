"""The visitor's session: start a chat, write, leave."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from chatserver.core.lifecycle import ChatState
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.session import PROTOCOL_VERSION, Session
from chatserver.protocol import (
    CloseCode,
    ErrorCode,
    InviteAnswer,
    Leave,
    Offline,
    PageView,
    ProtocolError,
    Rate,
    Resume,
    Start,
    Transcript,
    VisitorFrame,
    decode_visitor,
)
from chatserver.service.actor import Actor

log = logging.getLogger(__name__)

_OPEN = (ChatState.QUEUED.value, ChatState.OFFERED.value, ChatState.ACTIVE.value)


class VisitorSession(Session):
    role = "visitor"

    __slots__ = ("known_chat", "known_token", "new_token", "resume", "user_agent")

    HANDLERS = {
        **Session.HANDLERS,
        Start: "on_start",
        Leave: "on_leave",
        Rate: "on_rate",
        Transcript: "on_transcript",
        Offline: "on_offline",
        PageView: "on_page",
        InviteAnswer: "on_invite_answer",
    }

    def __init__(
        self,
        node: Node,
        conn: Connection,
        *,
        new_token: str | None,
        user_agent: str,
        resume: Resume | None = None,
    ) -> None:
        super().__init__(node, conn)
        self.new_token = new_token
        self.known_token = new_token is None
        """The visitor came with a token they had before (a returning visitor)."""
        self.resume = resume
        """What the handshake asked to resume (``resume``/``after``): done after the
        welcome when it names the visitor's chat, then dropped."""
        self.known_chat: str | None = None
        """The visitor's open chat id ('' for none), when the socket endpoint read it
        already (beside the presence write): the welcome does not read it again."""
        self.user_agent = user_agent[:512]

    def decode(self, data: bytes) -> VisitorFrame:
        return decode_visitor(data)

    async def welcome(self) -> dict[str, Any]:
        node = self.node
        # a new visitor (their token is in this welcome) has no chat yet: no read
        chat_id = self.known_chat
        self.known_chat = None
        if chat_id is None:
            chat_id = "" if self.new_token else await node.profiles.open_chat(self.conn.subject)
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
        resume, self.resume = self.resume, None
        if resume is not None and chat is not None and chat["id"] == resume.chat:
            frame["resumed"] = chat["id"]
            self.resume = resume  # followed by ``after_welcome``
        if self.new_token:
            frame["token"] = self.new_token
            self.new_token = None  # sent once; not kept for the life of the socket
        # sent by the caller right away (no await in between): changes from now on
        # reach this connection as ``availability`` frames, after its welcome
        node.availability.welcomed(self.conn)
        return frame

    async def after_welcome(self) -> None:
        """Follow the chat the handshake resumed, from its ``after``: the missed messages
        go out right after the welcome, as they would after a ``resume``'s reply."""
        resume, self.resume = self.resume, None
        if resume is None:
            return
        try:
            await self.conn.follow(resume.chat, resume.after, reset=True)
        except (RedisError, TimeoutError) as exc:
            # the welcome said ``resumed``: without the messages it promised, the
            # client is asked to come back (it reconnects and resumes again)
            log.warning("resume of %s in the handshake failed (%s)", resume.chat, exc)
            self.conn.close(CloseCode.TRY_AGAIN, "resume failed: reconnect")

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

    @property
    def actor(self) -> Actor:
        conn = self.conn
        return Actor("visitor", conn.subject, conn.name, False, conn.id)

    async def on_start(self, frame: Start) -> dict[str, Any]:
        if frame.name:
            self.conn.name = frame.name
        info = await self.node.visitor_actions.start(
            self.actor,
            frame,
            user_agent=self.user_agent,
            follow=lambda chat_id: self.conn.follow(chat_id, 0, new=True),
            unfollow=self.conn.unfollow,
        )
        return {"type": "chat", "chat": info}

    async def on_leave(self, frame: Leave) -> dict[str, Any]:
        await self.node.visitor_actions.leave(self.actor, frame.chat)
        return {"type": "ok", "chat": frame.chat}

    async def on_rate(self, frame: Rate) -> dict[str, Any]:
        await self.node.visitor_actions.rate(self.actor, frame)
        return {"type": "ok", "chat": frame.chat}

    async def on_transcript(self, frame: Transcript) -> dict[str, Any]:
        await self.node.visitor_actions.transcript(self.actor, frame)
        return {"type": "ok", "chat": frame.chat}

    async def on_offline(self, frame: Offline) -> dict[str, Any]:
        """Leave a message for when someone is back (see ``service/visitors.py``)."""
        self.check_text(frame.text)
        if not self.rates.message_rate.allow(self.node.now()):
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
        chat_id = await self.node.visitor_actions.offline(
            self.actor, frame, user_agent=self.user_agent
        )
        return {"type": "ok", "chat": chat_id}

    async def on_page(self, frame: PageView) -> dict[str, Any]:
        await self.node.onsite_actions.page(self.actor, frame, known=self.known_token)
        return {"type": "ok"}

    async def on_invite_answer(self, frame: InviteAnswer) -> dict[str, Any]:
        await self.node.onsite_actions.answer(self.actor, frame)
        return {"type": "ok"}
