"""Routing: queues and offers.  A routing pass reads a snapshot here (queue heads, available
agents), ``core/routing.py`` chooses, and ``assign.lua`` commits the plan, re-checking every
condition; accept, decline, lapse, requeue and transfer move a chat between an agent and a
queue.  Each change is one script that returns the chat as it now is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from chatserver.core import agent_presence, lifecycle
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.queueing import estimate_wait_s, queue_score
from chatserver.core.released import RELEASE_SWEEP_AFTER_MS
from chatserver.core.released import member as released_member
from chatserver.core.routing import (
    DEFAULT_PROFICIENCY,
    Assignment,
    encode_skills,
)
from chatserver.settings import Settings
from chatserver.store.chat_state import (
    EVENT_LOG_MAX,
    OfferHint,
    Outcome,
    flat_hash,
    seconds_or_none,
    source_states,
)
from chatserver.store.codec import text
from chatserver.store.directory import Topic
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts, ScriptStore
from chatserver.store.snapshot import Snapshot, SnapshotReader

COMMIT_CHUNK = 200

LAPSE_STATUS = agent_presence.next_status(
    agent_presence.AgentStatus.ONLINE, agent_presence.PresenceEvent.LAPSE
).value
"""An agent's status after an offer they let lapse (not responding)."""


@dataclass(frozen=True)
class _Read:
    """What ``requeue.lua``'s keys and score are built from, as read from the chat's hash
    (or taken from an ``OfferHint``); the script refuses ('retry') when the chat differs."""

    holder: str
    topic: str
    priority: str
    created: str


class RoutingStore(ScriptStore):
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        super().__init__(redis, keys, scripts, settings)
        self._snapshots = SnapshotReader(redis, keys, scripts)

    async def agent_chat_ids(self, agent_id: str) -> list[str]:
        return sorted(text(m) for m in await self.redis.smembers(self.keys.agent_chats(agent_id)))

    async def queue_position(self, topic: str, chat_id: str) -> int | None:
        rank = await self.redis.zrank(self.keys.queue(topic), chat_id)
        return None if rank is None else int(rank) + 1  # type: ignore[arg-type]

    async def snapshot(self, topics: Iterable[str], window: int | None = None) -> Snapshot:
        """Queued chats in service order and the available agents, read without a lock
        (see ``store/snapshot.py``).  ``window``: chats read per queue (default: twice
        the free capacity, within ``MIN_WINDOW`` and ``MAX_WINDOW``); ``Snapshot.more``
        says a queue was cut, so a caller whose plan came up empty (the heads need skills
        nobody free has) can look further."""
        return await self._snapshots.read(topics, window)

    async def commit(
        self,
        plan: Sequence[Assignment],
        topics_of: Mapping[str, str],
        now_ms: int,
        chats: dict[str, dict[Any, Any]] | None = None,
    ) -> list[tuple[Assignment, str]]:
        """Apply a plan; returns each assignment with 'ok' or the reason it was refused.
        ``chats``, when given, receives the hash of every chat assigned, as the script
        left it (what an offer is built from, without reading it back)."""
        s = self.settings
        event = ChatEvent.ASSIGN if s.auto_accept else ChatEvent.OFFER
        target = lifecycle.next_state(ChatState.QUEUED, event)
        k = self.keys

        async def chunk_at(start: int) -> list[tuple[Assignment, str]]:
            chunk = plan[start : start + COMMIT_CHUNK]
            reasons = await self.scripts.call(
                "assign",
                available=k.available,
                offers=k.offers,
                events=k.events,
                relax=k.relax,
                deadlines=k.queue_deadlines,
                idle=k.idle,
                now=now_ms,
                from_states=source_states(event),
                target=target.value,
                offer_at=now_ms + self._ms(s.offer_timeout_s),
                idle_at=now_ms + self._ms(s.chat_idle_timeout_s),
                events_max=EVENT_LOG_MAX,
                default_level=DEFAULT_PROFICIENCY,
                each=[
                    {
                        "chat": k.chat(a.chat_id),
                        "declined": k.chat_declined(a.chat_id),
                        "agent": k.agent(a.agent_id),
                        "skills": k.agent_skills(a.agent_id),
                        "agent_chats": k.agent_chats(a.agent_id),
                        "queue": k.queue(topics_of[a.chat_id]),
                        "history": k.chat_history(a.chat_id),
                        "chat_id": a.chat_id,
                        "agent_id": a.agent_id,
                    }
                    for a in chunk
                ],
            )
            out: list[tuple[Assignment, str]] = []
            for a, r in zip(chunk, reasons, strict=True):
                if isinstance(r, list):  # assigned: the chat's hash, flat
                    if chats is not None:
                        chats[a.chat_id] = dict(zip(r[::2], r[1::2], strict=True))
                    out.append((a, "ok"))
                else:
                    out.append((a, text(r)))
            return out

        # the chunks are sent together (one write on the multiplexed connection), not one
        # round trip after another: each script re-checks its own pairs, and an agent's
        # capacity is checked against what the chunks before it did, whichever ran first
        # (Valkey runs them one at a time; other clients' commands may come between)
        chunks = await asyncio.gather(
            *(chunk_at(start) for start in range(0, len(plan), COMMIT_CHUNK))
        )
        results = [r for chunk in chunks for r in chunk]
        return results

    async def accept(self, chat_id: str, agent_id: str, now_ms: int) -> Outcome:
        k = self.keys
        result = await self.scripts.call(
            "accept",
            chat=k.chat(chat_id),
            offers=k.offers,
            idle=k.idle,
            events=k.events,
            history=k.chat_history(chat_id),
            chat_id=chat_id,
            agent_id=agent_id,
            now=now_ms,
            from_states=source_states(ChatEvent.ACCEPT),
            target=ChatState.ACTIVE.value,
            idle_at=now_ms + self._ms(self.settings.chat_idle_timeout_s),
            events_max=EVENT_LOG_MAX,
        )
        reason = text(result[0])
        return Outcome(reason == "ok", reason, agent=agent_id, chat=flat_hash(result[1:]))

    async def requeue(
        self,
        chat_id: str,
        event: ChatEvent,
        now_ms: int,
        *,
        expected_agent: str = "",
        new_topic: Topic | None = None,
        by: str = "",
        note: str = "",
        offered: OfferHint | None = None,
    ) -> Outcome:
        """Release the chat from its agent and queue it again at the front.

        ``event`` is DECLINE or LAPSE (the agent is excluded from further offers; a lapse
        also sets them away), REQUEUE (agent gone) or TRANSFER_QUEUE (to ``new_topic``;
        ``by`` and ``note`` go into the chat's history for the record's transfer trace).

        The script's keys and score depend on the chat's holder, topic, priority and
        creation time.  With ``offered`` (what ``expected_agent`` was offered of the
        chat) they are taken from it and the script alone is one round trip; otherwise,
        or when the script finds the chat differs from it ('retry'), they are read first.
        """

        def attempt(read: _Read) -> Awaitable[Outcome | None]:
            return self._requeue(
                chat_id,
                event,
                now_ms,
                read,
                expected_agent=expected_agent,
                new_topic=new_topic,
                by=by,
                note=note,
            )

        if offered is not None and expected_agent and new_topic is None:
            as_offered = _Read(
                expected_agent, offered.topic, str(offered.priority), str(offered.created_ms)
            )
            out = await attempt(as_offered)
            if out is not None:
                return out
            # the chat is no longer as it was offered: read it
        for _ in range(5):
            current = await self.redis.hmget(
                self.keys.chat(chat_id), "agent", "topic", "priority", "created"
            )
            read = _Read(*(text(v) for v in current))
            if not read.topic:
                return Outcome(False, "not_found")
            out = await attempt(read)
            if out is not None:
                return out
        return Outcome(False, "retry")

    async def _requeue(
        self,
        chat_id: str,
        event: ChatEvent,
        now_ms: int,
        read: _Read,
        *,
        expected_agent: str,
        new_topic: Topic | None,
        by: str,
        note: str,
    ) -> Outcome | None:
        """One call of ``requeue.lua`` with its keys and score built from ``read``; None
        when the chat is not as ``read`` says (call again with a fresh read)."""
        s = self.settings
        queue_topic = new_topic.name if new_topic else read.topic
        prio = new_topic.priority if new_topic else int(read.priority or 0)
        created = int(read.created or now_ms)
        if new_topic is not None:
            relax_at = now_ms + self._ms(s.relax_after_s) if new_topic.optional else 0
        else:
            # the script applies it only to a chat whose optional skills are not dropped
            # yet; it keeps the original relaxation time (an offer in between does not
            # reset it)
            relax_at = max(created + self._ms(s.relax_after_s), now_ms)
        k = self.keys
        result = await self.scripts.call(
            "requeue",
            chat=k.chat(chat_id),
            declined=k.chat_declined(chat_id),
            agent_chats=k.agent_chats(read.holder),
            agent=k.agent(read.holder),
            available=k.available,
            queue=k.queue(queue_topic),
            offers=k.offers,
            idle=k.idle,
            deadlines=k.queue_deadlines,
            relax=k.relax,
            events=k.events,
            history=k.chat_history(chat_id),
            status_log=k.status_log,
            handle_time=k.handle_time,
            released=k.released,
            check_at=now_ms + RELEASE_SWEEP_AFTER_MS,
            released_note=released_member(chat_id, read.holder),
            writing_state=ChatState.ACTIVE.value,
            chat_id=chat_id,
            expected_agent=expected_agent,
            now=now_ms,
            from_states=source_states(event),
            target=ChatState.QUEUED.value,
            event_name=event.value,
            mark_declined="1"
            if event in (ChatEvent.DECLINE, ChatEvent.LAPSE, ChatEvent.TRANSFER_QUEUE)
            else "0",
            lapse_status=LAPSE_STATUS if event is ChatEvent.LAPSE else "",
            # at the front, in the order the chats first came: requeued chats keep their
            # age order among themselves (oldest first)
            score=queue_score(prio, created, front=True),
            new_topic=new_topic.name if new_topic else "",
            new_required=encode_skills(new_topic.required) if new_topic else "",
            new_optional=encode_skills(new_topic.optional) if new_topic else "",
            missed_at=now_ms + self._ms(s.queue_timeout_s),
            relax_at=relax_at,
            events_max=EVENT_LOG_MAX,
            topic_read=read.topic,
            holder_read=read.holder,
            priority_read=read.priority,
            created_read=read.created,
            by=by,
            note=note,
            new_priority=prio,
        )
        reason, agent = text(result[0]), text(result[1])
        if reason == "retry":
            return None
        if reason != "ok":
            return Outcome(False, reason, agent=agent, topic=queue_topic)
        chat = flat_hash(result[4:])
        return Outcome(
            True,
            reason,
            agent=agent,
            topic=queue_topic,
            visitor=chat.get("visitor", ""),
            chat=chat,
            position=int(result[2]),
            handle_s=seconds_or_none(result[3]),
        )

    async def transfer_to_agent(
        self,
        chat_id: str,
        to_agent: str,
        now_ms: int,
        *,
        expected_agent: str = "",
        by: str = "",
        note: str = "",
    ) -> Outcome:
        """Move an active chat to ``to_agent``; ``by`` (role:id) and ``note`` go into the
        chat's history for the record's transfer trace."""
        for _ in range(5):
            holder = text(await self.redis.hget(self.keys.chat(chat_id), "agent"))
            k = self.keys
            result = await self.scripts.call(
                "transfer_agent",
                chat=k.chat(chat_id),
                old_chats=k.agent_chats(holder),
                new_chats=k.agent_chats(to_agent),
                new_agent=k.agent(to_agent),
                available=k.available,
                idle=k.idle,
                events=k.events,
                history=k.chat_history(chat_id),
                released=k.released,
                check_at=now_ms + RELEASE_SWEEP_AFTER_MS,
                released_note=released_member(chat_id, holder),
                writing_state=ChatState.ACTIVE.value,
                chat_id=chat_id,
                expected_agent=expected_agent,
                to_agent=to_agent,
                now=now_ms,
                from_states=source_states(ChatEvent.TRANSFER_AGENT),
                target=ChatState.ACTIVE.value,
                idle_at=now_ms + self._ms(self.settings.chat_idle_timeout_s),
                events_max=EVENT_LOG_MAX,
                holder_read=holder,
                by=by,
                note=note,
            )
            reason = text(result[0])
            if reason == "retry":
                continue
            return Outcome(
                reason == "ok", reason, agent=text(result[1]), chat=flat_hash(result[2:])
            )
        return Outcome(False, "retry")

    async def relax(self, chat_id: str, now_ms: int) -> bool:
        return bool(
            await self.scripts.call(
                "relax",
                chat=self.keys.chat(chat_id),
                relax=self.keys.relax,
                events=self.keys.events,
                history=self.keys.chat_history(chat_id),
                chat_id=chat_id,
                now=now_ms,
                events_max=EVENT_LOG_MAX,
            )
        )

    async def queue_summary(self, topics: Iterable[str], now_ms: int) -> list[dict[str, Any]]:
        topics = list(topics)
        async with self.redis.pipeline(transaction=False) as pipe:
            for t in topics:
                pipe.zcard(self.keys.queue(t))
                pipe.zrange(self.keys.queue(t), 0, 0)
            replies = await pipe.execute()
        out = []
        serving = int(await self.redis.scard(self.keys.available))
        for i, t in enumerate(topics):
            waiting = int(replies[2 * i])
            head = replies[2 * i + 1]
            longest = 0
            if head:
                queued_at = await self.redis.hget(self.keys.chat(text(head[0])), "queued_at")
                longest = max(0, now_ms - int(queued_at or now_ms)) // 1000
            avg = float(await self.redis.hget(self.keys.handle_time, t) or 300.0)
            eta = estimate_wait_s(waiting + 1, serving, avg)
            out.append({"topic": t, "waiting": waiting, "longest_wait_s": longest, "eta_s": eta})
        return out

    async def events(self, count: int = 100_000) -> list[dict[str, str]]:
        """The routing event log, oldest first (used by audits and tests)."""
        entries: Any = await self.redis.xrange(self.keys.events, count=count)
        return [{text(k): text(v) for k, v in fields.items()} for _, fields in entries]
