"""Chats: created, read, ended, tagged, rated; offline messages.  Each change is one script
that checks and changes the chat (and frees its agent's capacity, when it ends) in one
atomic step, and returns the chat as it now is."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chatserver.core import lifecycle
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.queueing import HANDLE_TIME_WEIGHT, queue_score
from chatserver.core.routing import encode_skills
from chatserver.store.chat_state import (
    EVENT_LOG_MAX,
    ChatRecord,
    Created,
    Outcome,
    chat_record,
    flat_hash,
    seconds_or_none,
    source_states,
)
from chatserver.store.codec import text
from chatserver.store.directory import Topic
from chatserver.store.scripts import ScriptStore


class ChatStore(ScriptStore):
    """A chat's life in the routing slot, apart from routing it (``RoutingStore``)."""

    async def create_chat(
        self,
        chat_id: str,
        visitor_id: str,
        topic: Topic,
        details: Mapping[str, Any],
        now_ms: int,
        visitor_name: str = "",
    ) -> Created:
        """Create and queue a chat, unless the visitor has an open one (its id is
        returned, not created) or the topic was deleted meanwhile (not created, no id);
        ``visitor_name`` (if given) is remembered for them."""
        s = self.settings
        relax_at = now_ms + self._ms(s.relax_after_s) if topic.optional else 0
        k = self.keys
        result = await self.scripts.call(
            "create_chat",
            chat=k.chat(chat_id),
            queue=k.queue(topic.name),
            visitor=k.visitor(visitor_id),
            live=k.live_chats,
            relax=k.relax,
            deadlines=k.queue_deadlines,
            events=k.events,
            history=k.chat_history(chat_id),
            handle_time=k.handle_time,
            topics=k.topics,
            chat_id=chat_id,
            visitor_id=visitor_id,
            topic=topic.name,
            priority=topic.priority,
            required=encode_skills(topic.required),
            optional=encode_skills(topic.optional),
            now=now_ms,
            score=queue_score(topic.priority, now_ms),
            relax_at=relax_at,
            missed_at=now_ms + self._ms(s.queue_timeout_s),
            details=json.dumps(dict(details)),
            visitor_ttl=int(s.visitor_token_ttl_s),
            events_max=EVENT_LOG_MAX,
            visitor_name=visitor_name,
        )
        if not int(result[0]):
            return Created(False, text(result[1]))
        return Created(
            True, text(result[1]), flat_hash(result[4:]), int(result[2]), seconds_or_none(result[3])
        )

    async def get_chat(self, chat_id: str) -> ChatRecord | None:
        return chat_record(chat_id, await self.redis.hgetall(self.keys.chat(chat_id)))

    async def visitor_open_chat(self, visitor_id: str) -> str | None:
        value = await self.redis.hget(self.keys.visitor(visitor_id), "chat")
        return text(value) or None

    async def end_chat(
        self,
        chat_id: str,
        event: ChatEvent,
        now_ms: int,
        *,
        by: str,
        outcome: str = "",
        tags: Sequence[str] = (),
        required_agent: str = "",
        if_visitor_gone: bool = False,
        closer_name: str = "",
    ) -> Outcome:
        """Close, abandon or miss a chat (``event`` CLOSE, ABANDON or MISS); an accepted
        chat's handle time goes into its topic's average in the same step.

        ``if_visitor_gone``: only if the visitor has no live socket at this moment (the
        gone timer), else the reason is ``visitor_back``."""
        target = {
            ChatEvent.CLOSE: ChatState.CLOSED,
            ChatEvent.ABANDON: ChatState.ABANDONED,
            ChatEvent.MISS: ChatState.MISSED,
        }[event]
        for _ in range(5):
            current = await self.redis.hmget(self.keys.chat(chat_id), "agent", "topic", "visitor")
            holder, topic, visitor = (text(v) for v in current)
            if not topic:
                return Outcome(False, "not_found")
            k = self.keys
            result = await self.scripts.call(
                "close_chat",
                chat=k.chat(chat_id),
                declined=k.chat_declined(chat_id),
                agent_chats=k.agent_chats(holder),
                queue=k.queue(topic),
                offers=k.offers,
                idle=k.idle,
                relax=k.relax,
                deadlines=k.queue_deadlines,
                live=k.live_chats,
                visitor=k.visitor(visitor),
                events=k.events,
                outbox=k.outbox,
                watchers=k.chat_watchers(chat_id),
                history=k.chat_history(chat_id),
                visitor_conns=k.visitor_conns(visitor),
                visitor_gone=k.visitor_gone,
                handle_time=k.handle_time,
                chat_id=chat_id,
                now=now_ms,
                from_states=source_states(event),
                target=target.value,
                event_name=event.value,
                by=by,
                outcome=outcome,
                tags=json.dumps(list(tags)),
                holder_read=holder,
                required_agent=required_agent,
                retention=int(max(self.settings.record_hold_s, self.settings.chat_retention_s)),
                events_max=EVENT_LOG_MAX,
                if_visitor_gone="1" if if_visitor_gone else "0",
                closer_name=closer_name,
                handle_weight=HANDLE_TIME_WEIGHT,
            )
            reason = text(result[0])
            if reason == "retry":
                continue
            return Outcome(
                reason == "ok",
                reason,
                agent=text(result[1]),
                topic=text(result[2]),
                visitor=text(result[3]),
                chat=flat_hash(result[4:]),
            )
        return Outcome(False, "retry")

    async def set_tags(self, chat_id: str, tags: Sequence[str], *, required_agent: str) -> str:
        """Replace a live chat's tags; returns 'ok' or why not."""
        live = ",".join(s.value for s in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE))
        return text(
            await self.scripts.call(
                "set_tags",
                chat=self.keys.chat(chat_id),
                tags=json.dumps(list(tags)),
                from_states=live,
                required_agent=required_agent,
            )
        )

    async def create_offline(
        self,
        chat_id: str,
        visitor_id: str,
        topic: str,
        details: Mapping[str, Any],
        now_ms: int,
        *,
        notice: str = "",
        notice_ttl_s: int = 0,
    ) -> bool:
        """Write an offline message's chat (its log is written and sealed already), the
        notice it is linked to (if any) and its outbox entry, in one step."""
        return bool(
            await self.scripts.call(
                "offline_message",
                chat=self.keys.chat(chat_id),
                history=self.keys.chat_history(chat_id),
                events=self.keys.events,
                outbox=self.keys.outbox,
                notices=self.keys.chat_notices(chat_id),
                notice=notice,
                notice_ttl=max(1, notice_ttl_s),
                chat_id=chat_id,
                visitor_id=visitor_id,
                topic=topic,
                details=json.dumps(dict(details)),
                now=now_ms,
                retention=int(max(self.settings.record_hold_s, self.settings.chat_retention_s)),
                events_max=EVENT_LOG_MAX,
                state=lifecycle.INITIAL["offline_message"].value,
            )
        )

    async def rate(
        self,
        chat_id: str,
        visitor_id: str,
        rating: int,
        comment: str,
        now_ms: int,
        nps: int | None = None,
    ) -> str:
        return text(
            await self.scripts.call(
                "rate",
                chat=self.keys.chat(chat_id),
                outbox=self.keys.outbox,
                chat_id=chat_id,
                visitor_id=visitor_id,
                rating=rating,
                comment=comment,
                now=now_ms,
                window=int(self.settings.rating_window_s * 1000),
                nps="" if nps is None else nps,
            )
        )

    async def request_transcript(
        self, chat_id: str, visitor_id: str, email: str, now_ms: int
    ) -> str:
        """Queue the e-mail of an ended chat's transcript (through the records outbox):
        'ok', 'not_found', 'forbidden', 'not_ended' or 'too_many'."""
        return text(
            await self.scripts.call(
                "transcript",
                chat=self.keys.chat(chat_id),
                outbox=self.keys.outbox,
                chat_id=chat_id,
                visitor_id=visitor_id,
                email=email,
                now=now_ms,
                max=self.settings.transcript_max_per_chat,
            )
        )

    async def history(self, chat_id: str) -> list[str]:
        return [text(e) for e in await self.redis.lrange(self.keys.chat_history(chat_id), 0, -1)]
