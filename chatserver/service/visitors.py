"""What a visitor does: start a chat, leave it, rate it, ask for its transcript by
e-mail, or leave a message when nobody is there (offline).  Each action raises
``ProtocolError`` when it is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chatserver.clock import new_id
from chatserver.core.availability import missing_fields
from chatserver.core.lifecycle import IllegalTransition, visitor_leave_event
from chatserver.core.transcript import email_address
from chatserver.faults import crash_point
from chatserver.protocol import ErrorCode, Offline, ProtocolError, Rate, Start, Transcript
from chatserver.service.actor import Actor
from chatserver.store.chat_state import chat_record
from chatserver.store.config import is_open

if TYPE_CHECKING:
    from chatserver.hub.node import Node

_RATE_CODES = {"not_found": ErrorCode.NOT_FOUND, "forbidden": ErrorCode.FORBIDDEN}
_RATE_MESSAGES = {
    "not_ended": "a chat can be rated once it has ended",
    "too_late": "the time to rate this chat has passed",
}
_TRANSCRIPT_CODES = {
    "not_found": ErrorCode.NOT_FOUND,
    "forbidden": ErrorCode.FORBIDDEN,
    "too_many": ErrorCode.TOO_MANY,
}
_TRANSCRIPT_MESSAGES = {
    "forbidden": "you are not in this chat",
    "not_ended": "the transcript can be e-mailed once the chat has ended",
    "too_many": "the transcript of this chat was asked for too many times",
}


class VisitorActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    async def connect(
        self, visitor_id: str, conn_id: str, *, returning: bool
    ) -> tuple[str | None, str | None]:
        """A widget connected: the visitor is present on every process from now (a
        pending "gone" mark is dropped).  For a returning visitor, their name and open
        chat (for the welcome) are read beside it, in one write on the shared connection;
        a new visitor has neither in Redis yet: (None, None)."""
        node = self.node
        connected = node.visitor_presence.connect(visitor_id, conn_id, node.now())
        if not returning:
            await connected
            return None, None
        _, name, chat_id = await asyncio.gather(
            connected, node.profiles.name(visitor_id), node.profiles.open_chat(visitor_id)
        )
        return name, chat_id

    async def disconnect(self, visitor_id: str, conn_id: str) -> None:
        """A widget's socket closed: the visitor's last one anywhere starts their leave
        grace period (see ``core/presence.py``)."""
        node = self.node
        await node.visitor_presence.disconnect(visitor_id, conn_id, node.now())

    async def start(
        self,
        actor: Actor,
        frame: Start,
        *,
        user_agent: str,
        follow: Callable[[str], Awaitable[None]],
        unfollow: Callable[[str], Awaitable[None]],
    ) -> dict[str, Any]:
        """Queue a new chat; returns its view.  ``follow`` starts relaying it to the
        calling connection; ``unfollow`` undoes that when the chat is not created.

        The connection follows the new chat's id before the chat exists (together with
        the first step), so that the chat can be routed the moment it is queued: an offer
        or an assignment published on the chat's channel then reaches a subscription that
        is already confirmed."""
        node = self.node
        topic_name = (frame.topic or node.settings.default_topic).strip().lower()
        await self._check_start(frame)
        topic = await node.catalog.topic(topic_name)
        if topic is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TOPIC,
                f"unknown topic {topic_name!r}",
                topics=sorted(await node.catalog.topics()),
            )
        details = {
            "name": frame.name or "",
            "email": frame.email or "",
            "page": frame.page or "",
            "referrer": frame.referrer or "",
            "locale": frame.locale or "",
            "user_agent": user_agent,
            "fields": dict(frame.fields),
        }
        # Two slots, in this order (docs/architecture.md, "Actions that span two slots"):
        # the chat's log is opened first ({c:<chat>}), then the chat is created and queued
        # ({rt}).  A crash or a refusal in between leaves only an open log nobody knows
        # of, which expires; never a queued chat whose log cannot take messages.
        chat_id = new_id("c")
        try:
            await asyncio.gather(
                node.messages.open_chat(chat_id, [actor.participant]), follow(chat_id)
            )
            crash_point("start:log_opened")
            created = await node.chats.create_chat(
                chat_id, actor.id, topic, details, node.now(), visitor_name=actor.name
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await unfollow(chat_id)
            raise
        if created.created:
            # route it now, while the rest of the steps go out: in a burst of starts the
            # drainer then runs beside them instead of after the last one
            node.drainer.request()
        else:
            await asyncio.gather(node.messages.discard_chat(chat_id), unfollow(chat_id))
        chat = chat_record(created.chat_id, created.chat)
        if not created.created and not created.chat_id:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TOPIC,
                f"unknown topic {topic_name!r}",
                topics=sorted(await node.catalog.topics()),
            )
        if not created.created or chat is None:
            raise ProtocolError(
                ErrorCode.CHAT_OPEN, "you already have an open chat", chat=created.chat_id
            )
        queue = await node.views.queue_fields(topic.name, created.position, created.handle_s)
        info = node.views.build(chat, {}, for_agent=False, queue=queue)  # no message yet
        node.positions.watch(chat_id, topic.name)
        # the notices of this topic were in the pre-chat form: the record names them
        node.notices.seen(chat_id, node.notices.for_topic(topic.name))
        # independent steps, issued together: the shared Redis connection carries them in
        # one write (store/multiplex.py) instead of one round trip each
        await asyncio.gather(
            node.notifier.queues_changed(),
            # other tabs of the same visitor follow the new chat too
            node.notifier.visitor(actor.id, {"type": "chat", "chat": info}, follow=chat_id),
        )
        return info

    async def _check_start(self, frame: Start) -> None:
        """The widget's rules, enforced here too: business hours, then the required
        pre-chat fields (see ``core.availability``)."""
        node = self.node
        settings = await node.catalog.widget_settings()
        if not is_open(settings, node.now()):
            raise ProtocolError(
                ErrorCode.OUTSIDE_HOURS,
                "outside business hours: leave a message instead",
                offline=True,
            )
        missing = missing_fields(
            settings.required_fields,
            settings.prechat_fields,
            {"name": frame.name, "email": frame.email, "topic": frame.topic},
            len(await node.catalog.topics()),
        )
        if missing:
            raise ProtocolError(
                ErrorCode.MISSING_FIELDS,
                "required: "
                + ", ".join("a valid email address" if f == "email" else f for f in missing),
                fields=missing,
            )

    async def leave(self, actor: Actor, chat_id: str) -> None:
        chat = await self.node.chats.get_chat(chat_id)
        if chat is None or chat.visitor != actor.id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you are not in this chat", chat=chat_id)
        try:
            event = visitor_leave_event(chat.state)
        except IllegalTransition as exc:
            raise ProtocolError(ErrorCode.INVALID_STATE, str(exc), chat=chat_id) from None
        reason = await self.node.actions.end(
            chat_id, event, by=actor.participant, outcome="visitor_left"
        )
        if reason != "ok":
            raise ProtocolError(ErrorCode.INVALID_STATE, f"cannot end the chat: {reason}")

    async def rate(self, actor: Actor, frame: Rate) -> None:
        node = self.node
        reason = await node.chats.rate(
            frame.chat, actor.id, frame.rating, frame.comment, node.now(), frame.nps
        )
        if reason != "ok":
            raise ProtocolError(
                _RATE_CODES.get(reason, ErrorCode.INVALID_STATE),
                _RATE_MESSAGES.get(reason, reason.replace("_", " ")),
                chat=frame.chat,
            )

    async def transcript(self, actor: Actor, frame: Transcript) -> None:
        """'Email me the transcript' after the chat ended: queued through the records
        outbox, sent once the chat's record is written (``records/transcripts.py``)."""
        node = self.node
        try:
            email = email_address(frame.email)
        except ValueError:
            raise ProtocolError(
                ErrorCode.BAD_EMAIL, "a valid email address is required", chat=frame.chat
            ) from None
        if not node.settings.smtp_host:
            raise ProtocolError(
                ErrorCode.MAIL_NOT_CONFIGURED, "this server sends no e-mail", chat=frame.chat
            )
        reason = await node.chats.request_transcript(frame.chat, actor.id, email, node.now())
        if reason != "ok":
            raise ProtocolError(
                _TRANSCRIPT_CODES.get(reason, ErrorCode.INVALID_STATE),
                _TRANSCRIPT_MESSAGES.get(reason, reason.replace("_", " ")),
                chat=frame.chat,
            )

    async def offline(self, actor: Actor, frame: Offline, *, user_agent: str) -> str:
        """Leave a message for when someone is back: recorded at once as an interaction
        record with end state ``offline``; returns its chat id.  (The caller checks the
        text and the message rate, as for any message.)"""
        node = self.node
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
            "name": frame.name or "",
            "email": frame.email,
            "page": frame.page or "",
            "referrer": "",
            "locale": frame.locale or "",
            "user_agent": user_agent,
            # "email me when this is resolved": the message is linked to the notice
            "fields": {"notice": notice_id} if notice_id else {},
        }
        # Two slots, in this order (docs/architecture.md, "Actions that span two slots"):
        # the message is stored in the chat's log and the log sealed ({c:<chat>}), then the
        # chat, its notice and its outbox entry are written in one script ({rt}).  A crash
        # in between leaves a sealed log nobody names (it expires); the visitor had no
        # acknowledgement and sends it again.
        await node.messages.open_chat(chat_id, [actor.participant])
        await node.messages.post(
            chat_id,
            role="visitor",
            sender_id=actor.id,
            sender_name=frame.name or actor.name,
            cid=frame.rid or chat_id,
            text=frame.text,
            kind="message",
            audience="a",
            now_ms=now,
        )
        await node.messages.close_chat(chat_id)
        crash_point("offline:logged")
        await node.chats.create_offline(
            chat_id,
            actor.id,
            topic_name,
            details,
            now,
            notice=notice_id,
            notice_ttl_s=node.notices.seen_ttl_s,
        )
        return chat_id
