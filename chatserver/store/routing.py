"""The routing shell: chats, queues, offers and presence in Redis.

Every change is one Lua script that checks its preconditions and changes state in one
atomic step; the allowed source states come from :mod:`chatserver.core.lifecycle`.  The
routing *choice* is made by :mod:`chatserver.core.routing` on a snapshot read here, and
committed by ``assign.lua``, which re-checks every condition.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from chatserver.core import lifecycle
from chatserver.core.lifecycle import ChatEvent, ChatState
from chatserver.core.queueing import HANDLE_TIME_WEIGHT, estimate_wait_s, queue_score
from chatserver.core.routing import (
    DEFAULT_PROFICIENCY,
    AgentView,
    Assignment,
    ChatView,
    decode_skills,
    encode_skills,
)
from chatserver.settings import Settings
from chatserver.store.availability import AGENTS_CHANGED
from chatserver.store.codec import text
from chatserver.store.directory import Topic
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts

EVENT_LOG_MAX = 200_000
COMMIT_CHUNK = 200
MIN_WINDOW = 16
"""Queue head read per topic by a routing pass, at the least ..."""
MAX_WINDOW = 500
"""... and at the most."""


def _states(event: ChatEvent) -> str:
    return ",".join(sorted(s.value for s in lifecycle.sources(event)))


_s = text


@dataclass(frozen=True)
class ChatRecord:
    """A chat's routing state as stored in its hash."""

    id: str
    state: ChatState
    visitor: str
    topic: str
    priority: int
    agent: str
    created_ms: int
    queued_at_ms: int
    details: Mapping[str, Any]
    raw: Mapping[str, str]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "topic": self.topic,
            "priority": self.priority,
            "agent": self.agent or None,
            "created": self.created_ms,
        }


def chat_record(chat_id: str, raw: Mapping[Any, Any]) -> ChatRecord | None:
    """A chat's hash as read from Redis (None when there is no such chat)."""
    data = {_s(k): _s(v) for k, v in raw.items()}
    if not data.get("state"):
        return None
    try:
        details = json.loads(data.get("details") or "{}")
    except ValueError:
        details = {}
    return ChatRecord(
        id=chat_id,
        state=ChatState(data["state"]),
        visitor=data.get("visitor", ""),
        topic=data.get("topic", ""),
        priority=int(data.get("priority", 0)),
        agent=data.get("agent", ""),
        created_ms=int(data.get("created", 0)),
        queued_at_ms=int(data.get("queued_at", 0)),
        details=details,
        raw=data,
    )


@dataclass(frozen=True)
class Snapshot:
    """What a routing pass plans on: queue heads in service order, available agents."""

    chats: list[ChatView]
    agents: list[AgentView]
    more: bool
    """Some queue holds more chats than were read."""
    topic_of: dict[str, str] = field(default_factory=dict)
    """The queue each chat was read from (``commit`` needs it)."""
    window: int = 0
    """How many chats per queue were read."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str
    agent: str = ""
    topic: str = ""
    visitor: str = ""
    chat: Mapping[str, str] = field(default_factory=dict)
    """The chat's hash after the change (empty when refused): its view needs no read."""
    position: int = 0
    """Queued: its 1-based place in its queue."""
    handle_s: float | None = None
    """Queued: its topic's average handle time (None before the first handled chat)."""


@dataclass(frozen=True)
class Created:
    created: bool
    chat_id: str
    """The new chat, or the visitor's open one (not created)."""
    chat: Mapping[str, str] = field(default_factory=dict)
    position: int = 0
    handle_s: float | None = None


def _hash(flat: Sequence[Any]) -> dict[str, str]:
    """A flat HGETALL reply (as scripts return it) as a dict."""
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _seconds(value: Any) -> float | None:
    raw = _s(value)
    return float(raw) if raw else None


class RoutingStore:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.settings = settings
        self._skills: dict[str, dict[str, int]] = {}
        self._skills_version: bytes | None = b"unread"

    def _ms(self, seconds: float) -> int:
        return int(seconds * 1000)

    # ---- chats ---------------------------------------------------------------------------
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
        returned, not created); ``visitor_name`` (if given) is remembered for them."""
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
            return Created(False, _s(result[1]))
        return Created(True, _s(result[1]), _hash(result[4:]), int(result[2]),
                       _seconds(result[3]))

    async def get_chat(self, chat_id: str) -> ChatRecord | None:
        return chat_record(chat_id, await self.redis.hgetall(self.keys.chat(chat_id)))

    async def visitor_open_chat(self, visitor_id: str) -> str | None:
        value = await self.redis.hget(self.keys.visitor(visitor_id), "chat")
        return _s(value) or None

    async def agent_chat_ids(self, agent_id: str) -> list[str]:
        return sorted(_s(m) for m in await self.redis.smembers(self.keys.agent_chats(agent_id)))

    async def queue_position(self, topic: str, chat_id: str) -> int | None:
        rank = await self.redis.zrank(self.keys.queue(topic), chat_id)
        return None if rank is None else int(rank) + 1  # type: ignore[arg-type]

    # ---- routing snapshot and commit -----------------------------------------------------
    async def snapshot(
        self, topics: Iterable[str], window: int | None = None
    ) -> Snapshot:
        """Queued chats in service order and the available agents, read without a lock.

        Only the head of each queue is read: ``window`` chats per topic, by default
        twice the free capacity of the available agents (at least ``MIN_WINDOW``, at most
        ``MAX_WINDOW``).  A plan can never assign more chats than there are free slots,
        so a deep queue costs no more than a short one; ``Snapshot.more`` says a queue was
        cut, so a caller whose plan came up empty (the heads need skills nobody free has)
        can look further.  Agents' skills are cached while the agents' version counter
        (bumped on every change of skills or capacity) stays the same.
        """
        topics = list(topics)
        if not topics:
            return Snapshot([], [], False)
        async with self.redis.pipeline(transaction=False) as pipe:
            # an empty queue does not exist: when none of them does (agents coming online,
            # a burst of chats already routed) the pass ends here, without reading agents
            pipe.exists(*(self.keys.queue(t) for t in topics))
            pipe.smembers(self.keys.available)
            pipe.get(self.keys.agents_version)
            queued, members, version = await pipe.execute()
        agent_ids = sorted(_s(m) for m in members)
        if not agent_ids or not queued:
            return Snapshot([], [], False)
        if version != self._skills_version:
            self._skills.clear()
            self._skills_version = version
        uncached = [a for a in agent_ids if a not in self._skills]
        # one script call for every agent's capacity, status and load (a flat reply),
        # not two commands per agent: a pass may weigh a thousand agents
        views = self.scripts.call("snapshot_agents", each=[
            {"agent": self.keys.agent(a), "agent_chats": self.keys.agent_chats(a)}
            for a in agent_ids
        ])
        if uncached:
            async with self.redis.pipeline(transaction=False) as pipe:
                for a in uncached:
                    pipe.hgetall(self.keys.agent_skills(a))
                skills, flat = await asyncio.gather(pipe.execute(), views)
            for a, raw in zip(uncached, skills, strict=True):
                self._skills[a] = {_s(k): int(v) for k, v in raw.items()}
        else:
            flat = await views
        agents: list[AgentView] = []
        free = 0
        for j, a in enumerate(agent_ids):
            cap, idle, status, disabled, load = flat[5 * j : 5 * j + 5]
            view = AgentView(
                id=a,
                skills=self._skills[a],
                capacity=int(cap or 0),
                load=int(load),
                idle_since_ms=int(idle or 0),
                available=status == b"online" and disabled != b"1",
            )
            agents.append(view)
            if view.available:
                free += view.free
        if free == 0:
            return Snapshot([], agents, False)
        if window is None:
            window = min(MAX_WINDOW, max(MIN_WINDOW, 2 * free))
        async with self.redis.pipeline(transaction=False) as pipe:
            for t in topics:
                pipe.zrange(self.keys.queue(t), 0, window - 1, withscores=True)
            replies = await pipe.execute()
        entries: list[tuple[float, str]] = []
        topic_of: dict[str, str] = {}
        more = False
        for topic, reply in zip(topics, replies, strict=True):
            more |= len(reply) >= window
            for member, score in reply:
                chat_id = _s(member)
                entries.append((score, chat_id))
                topic_of[chat_id] = topic
        if not entries:
            return Snapshot([], agents, False)
        entries.sort()
        chat_ids = [c for _, c in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            for c in chat_ids:
                pipe.hmget(self.keys.chat(c), "req", "opt", "relaxed")
                pipe.smembers(self.keys.chat_declined(c))
            replies = await pipe.execute()
        chats: list[ChatView] = []
        for i, c in enumerate(chat_ids):
            req, opt, relaxed = replies[2 * i]
            chats.append(
                ChatView(
                    id=c,
                    required=decode_skills(_s(req)),
                    optional=decode_skills(_s(opt)),
                    relaxed=relaxed == b"1",
                    declined=frozenset(_s(m) for m in replies[2 * i + 1]),
                )
            )
        return Snapshot(chats, agents, more, topic_of, window)

    async def commit(
        self, plan: Sequence[Assignment], topics_of: Mapping[str, str], now_ms: int
    ) -> list[tuple[Assignment, str]]:
        """Apply a plan; returns each assignment with 'ok' or the reason it was refused."""
        s = self.settings
        event = ChatEvent.ASSIGN if s.auto_accept else ChatEvent.OFFER
        target = lifecycle.next_state(ChatState.QUEUED, event)
        results: list[tuple[Assignment, str]] = []
        for start in range(0, len(plan), COMMIT_CHUNK):
            chunk = plan[start : start + COMMIT_CHUNK]
            k = self.keys
            reasons = await self.scripts.call(
                "assign",
                available=k.available,
                offers=k.offers,
                events=k.events,
                relax=k.relax,
                deadlines=k.queue_deadlines,
                idle=k.idle,
                now=now_ms,
                from_states=_states(event),
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
            results.extend(zip(chunk, (_s(r) for r in reasons), strict=True))
        return results

    # ---- offers --------------------------------------------------------------------------
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
            from_states=_states(ChatEvent.ACCEPT),
            target=ChatState.ACTIVE.value,
            idle_at=now_ms + self._ms(self.settings.chat_idle_timeout_s),
            events_max=EVENT_LOG_MAX,
        )
        reason = _s(result[0])
        return Outcome(reason == "ok", reason, agent=agent_id, chat=_hash(result[1:]))

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
    ) -> Outcome:
        """Release the chat from its agent and queue it again at the front.

        ``event`` is DECLINE or LAPSE (the agent is excluded from further offers; a lapse
        also sets them away), REQUEUE (agent gone) or TRANSFER_QUEUE (to ``new_topic``;
        ``by`` and ``note`` go into the chat's history for the record's transfer trace).
        """
        target = ChatState.QUEUED
        s = self.settings
        for _ in range(5):
            current = await self.redis.hmget(
                self.keys.chat(chat_id), "agent", "topic", "priority", "opt", "relaxed",
                "created", "visitor",
            )
            holder, topic_name, priority, opt, relaxed, created, visitor = (
                _s(v) for v in current
            )
            if not topic_name:
                return Outcome(False, "not_found")
            queue_topic = new_topic.name if new_topic else topic_name
            prio = new_topic.priority if new_topic else int(priority or 0)
            if new_topic is not None:
                relax_at = now_ms + self._ms(s.relax_after_s) if new_topic.optional else 0
            elif opt and relaxed != "1":
                # keep the original relaxation time (an offer in between does not reset it)
                relax_at = max(int(created or now_ms) + self._ms(s.relax_after_s), now_ms)
            else:
                relax_at = 0
            k = self.keys
            result = await self.scripts.call(
                "requeue",
                chat=k.chat(chat_id),
                declined=k.chat_declined(chat_id),
                agent_chats=k.agent_chats(holder),
                agent=k.agent(holder),
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
                chat_id=chat_id,
                expected_agent=expected_agent,
                now=now_ms,
                from_states=_states(event),
                target=target.value,
                event_name=event.value,
                mark_declined="1" if event in (
                    ChatEvent.DECLINE, ChatEvent.LAPSE, ChatEvent.TRANSFER_QUEUE
                ) else "0",
                set_away="1" if event is ChatEvent.LAPSE else "0",
                # at the front, in the order the chats first came: requeued chats
                # keep their age order among themselves (oldest first)
                score=queue_score(prio, int(created or now_ms), front=True),
                new_topic=new_topic.name if new_topic else "",
                new_required=encode_skills(new_topic.required) if new_topic else "",
                new_optional=encode_skills(new_topic.optional) if new_topic else "",
                missed_at=now_ms + self._ms(s.queue_timeout_s),
                relax_at=relax_at,
                events_max=EVENT_LOG_MAX,
                topic_read=topic_name,
                holder_read=holder,
                by=by,
                note=note,
            )
            reason, agent = _s(result[0]), _s(result[1])
            if reason == "retry":
                continue
            if reason != "ok":
                return Outcome(False, reason, agent=agent, topic=queue_topic, visitor=visitor)
            return Outcome(
                True, reason, agent=agent, topic=queue_topic, visitor=visitor,
                chat=_hash(result[4:]), position=int(result[2]), handle_s=_seconds(result[3]),
            )
        return Outcome(False, "retry")

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
            holder = _s(await self.redis.hget(self.keys.chat(chat_id), "agent"))
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
                chat_id=chat_id,
                expected_agent=expected_agent,
                to_agent=to_agent,
                now=now_ms,
                from_states=_states(ChatEvent.TRANSFER_AGENT),
                target=ChatState.ACTIVE.value,
                idle_at=now_ms + self._ms(self.settings.chat_idle_timeout_s),
                events_max=EVENT_LOG_MAX,
                holder_read=holder,
                by=by,
                note=note,
            )
            reason = _s(result[0])
            if reason == "retry":
                continue
            return Outcome(reason == "ok", reason, agent=_s(result[1]), chat=_hash(result[2:]))
        return Outcome(False, "retry")

    async def set_tags(self, chat_id: str, tags: Sequence[str], *, required_agent: str) -> str:
        """Replace a live chat's tags; returns 'ok' or why not."""
        live = ",".join(s.value for s in (ChatState.QUEUED, ChatState.OFFERED, ChatState.ACTIVE))
        return _s(
            await self.scripts.call(
                "set_tags",
                chat=self.keys.chat(chat_id),
                tags=json.dumps(list(tags)),
                from_states=live,
                required_agent=required_agent,
            )
        )

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
            holder, topic, visitor = (_s(v) for v in current)
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
                from_states=_states(event),
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
            reason = _s(result[0])
            if reason == "retry":
                continue
            return Outcome(
                reason == "ok", reason, agent=_s(result[1]), topic=_s(result[2]),
                visitor=_s(result[3]), chat=_hash(result[4:]),
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

    # ---- presence ------------------------------------------------------------------------
    async def agent_connect(
        self, agent_id: str, conn_id: str, now_ms: int
    ) -> tuple[str, bool]:
        expiry = now_ms + self._ms(self.settings.presence_ttl_s)
        k = self.keys
        status, became = await self.scripts.call(
            "agent_connect",
            agent=k.agent(agent_id),
            conns=k.agent_conns(agent_id),
            presence=k.presence,
            graces=k.graces,
            available=k.available,
            status_log=k.status_log,
            agent_id=agent_id,
            conn_id=conn_id,
            expiry=expiry,
            now=now_ms,
        )
        if int(became):
            await self.agents_changed()
        return _s(status), bool(int(became))

    async def agents_changed(self) -> None:
        """Tell every process that the available set may have changed (visitors are
        shown which topics have an agent online; see ``hub/availability.py``)."""
        await self.redis.publish(self.keys.queue_channel, AGENTS_CHANGED)

    async def agent_disconnect(self, agent_id: str, conn_id: str, now_ms: int) -> int:
        left = int(
            await self.scripts.call(
                "agent_disconnect",
                conns=self.keys.agent_conns(agent_id),
                graces=self.keys.graces,
                available=self.keys.available,
                presence=self.keys.presence,
                agent_id=agent_id,
                conn_id=conn_id,
                now=now_ms,
                grace_end=now_ms + self._ms(self.settings.offline_grace_s),
            )
        )
        if left == 0:
            await self.agents_changed()
        return left

    async def heartbeat(self, conns: Mapping[str, Sequence[str]], now_ms: int) -> bool:
        """Refresh this process's live connections (agent -> connection ids).  Returns
        True when an agent the sweeper had dropped is available again."""
        expiry = now_ms + self._ms(self.settings.presence_ttl_s)
        back = False
        for agent_id, ids in conns.items():
            back |= bool(
                await self.scripts.call(
                    "agent_heartbeat",
                    agent=self.keys.agent(agent_id),
                    conns=self.keys.agent_conns(agent_id),
                    presence=self.keys.presence,
                    graces=self.keys.graces,
                    available=self.keys.available,
                    agent_id=agent_id,
                    expiry=expiry,
                    conn_ids=ids,
                )
            )
        if back:
            await self.agents_changed()
        return back

    async def set_status(self, agent_id: str, status: str, now_ms: int) -> tuple[str, bool]:
        result = await self.scripts.call(
            "agent_status",
            agent=self.keys.agent(agent_id),
            conns=self.keys.agent_conns(agent_id),
            available=self.keys.available,
            status_log=self.keys.status_log,
            agent_id=agent_id,
            status=status,
            now=now_ms,
        )
        await self.agents_changed()
        return _s(result[0]), bool(int(result[1]))

    async def sweep_agent(self, agent_id: str, now_ms: int, grace_due: bool) -> str:
        result = _s(
            await self.scripts.call(
                "agent_sweep",
                agent=self.keys.agent(agent_id),
                conns=self.keys.agent_conns(agent_id),
                presence=self.keys.presence,
                graces=self.keys.graces,
                available=self.keys.available,
                status_log=self.keys.status_log,
                agent_id=agent_id,
                now=now_ms,
                grace_end=now_ms + self._ms(self.settings.offline_grace_s),
                grace_due="1" if grace_due else "0",
            )
        )
        if result != "present":
            await self.agents_changed()
        return result

    # ---- timers --------------------------------------------------------------------------
    async def due(self, now_ms: int, limit: int = 200) -> dict[str, list[str]]:
        """Everything whose time has come: offers, relaxations, misses, idle chats,
        expired presence and ended grace periods."""
        names = {
            "offers": self.keys.offers,
            "relax": self.keys.relax,
            "missed": self.keys.queue_deadlines,
            "idle": self.keys.idle,
            "presence": self.keys.presence,
            "graces": self.keys.graces,
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in names.values():
                pipe.zrangebyscore(key, "-inf", now_ms, start=0, num=limit)
            replies = await pipe.execute()
        return {
            name: [_s(m) for m in reply] for name, reply in zip(names, replies, strict=True)
        }

    async def reschedule_idle(self, chat_id: str, at_ms: int) -> None:
        await self.redis.zadd(self.keys.idle, {chat_id: at_ms}, xx=True)

    # ---- supervisor view -----------------------------------------------------------------
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
                queued_at = await self.redis.hget(self.keys.chat(_s(head[0])), "queued_at")
                longest = max(0, now_ms - int(queued_at or now_ms)) // 1000
            avg = float(await self.redis.hget(self.keys.handle_time, t) or 300.0)
            eta = estimate_wait_s(waiting + 1, serving, avg)
            out.append(
                {"topic": t, "waiting": waiting, "longest_wait_s": longest, "eta_s": eta}
            )
        return out

    async def rate(
        self, chat_id: str, visitor_id: str, rating: int, comment: str, now_ms: int,
        nps: int | None = None,
    ) -> str:
        return _s(
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

    async def create_offline(
        self, chat_id: str, visitor_id: str, topic: str, details: Mapping[str, Any], now_ms: int
    ) -> bool:
        return bool(
            await self.scripts.call(
                "offline_message",
                chat=self.keys.chat(chat_id),
                history=self.keys.chat_history(chat_id),
                events=self.keys.events,
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

    async def hand_to_outbox(self, chat_id: str, state: str, now_ms: int) -> None:
        await self.redis.xadd(self.keys.outbox, {"chat": chat_id, "state": state, "ts": now_ms})

    async def history(self, chat_id: str) -> list[str]:
        return [_s(e) for e in await self.redis.lrange(self.keys.chat_history(chat_id), 0, -1)]

    async def events(self, count: int = 100_000) -> list[dict[str, str]]:
        """The routing event log, oldest first (used by audits and tests)."""
        entries: Any = await self.redis.xrange(self.keys.events, count=count)
        return [{_s(k): _s(v) for k, v in fields.items()} for _, fields in entries]

    async def outbox_entries(self, count: int = 100_000) -> list[dict[str, str]]:
        """The outbox, oldest first (used by audits and tests; the records writer reads it
        with a consumer group)."""
        entries: Any = await self.redis.xrange(self.keys.outbox, count=count)
        return [{_s(k): _s(v) for k, v in fields.items()} for _, fields in entries]
