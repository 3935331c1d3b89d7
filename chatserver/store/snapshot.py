"""What a routing pass plans on, read from Redis without a lock: the queue heads in service
order and the available agents (``RoutingStore.snapshot``; the commit re-checks every pair).

Two round trips in the usual case, each a pipeline sent in one write:

1. the available set, the agents' version counter, and the head of every queue, read
   with the window the last pass needed (``_guess``);
2. every available agent's capacity, status and load (``lua/snapshot_agents.lua``, plus
   the skills of agents not cached) together with every head chat's skills and declines
   (``lua/snapshot_chats.lua``).

Step 2 needs the ids step 1 read (a script is handed every key it touches), so the two
cannot be one.  The window a pass needs is twice the free capacity (at least
``MIN_WINDOW``, at most ``MAX_WINDOW``), known only after step 2: when the guess was too
small and a queue was cut at it, the heads are read again with the right window (two
more round trips, as a change of free capacity by a large step costs); when it was larger,
the extra chats are dropped.  When the last pass found no free capacity, the chats are
read only once the agents show some (a pass woken by every ``start`` while every agent is
busy then costs one script, not two).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from chatserver.core import agent_presence
from chatserver.core.routing import AgentView, ChatView, decode_skills
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts

MIN_WINDOW = 16
"""Chats read per queue at least (a pass with little free capacity still looks past a
few heads nobody free can take)."""
MAX_WINDOW = 500
"""Chats read per queue at most in one pass."""


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


def window_for(free: int) -> int:
    """How many chats per queue a pass with ``free`` slots reads: a plan never assigns
    more chats than there are free slots, so a deep queue costs no more than a short one."""
    return min(MAX_WINDOW, max(MIN_WINDOW, 2 * free))


class SnapshotReader:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self._skills: dict[str, dict[str, int]] = {}
        self._skills_version: bytes | None = b"unread"
        self._guess = MIN_WINDOW
        """The window the last pass needed (what step 1 reads)."""
        self._free_seen = True
        """The last pass found free capacity (step 2 then reads the chats too)."""

    async def read(self, topics: Iterable[str], window: int | None = None) -> Snapshot:
        topics = list(topics)
        if not topics:
            return Snapshot([], [], False)
        guess = window or self._guess
        async with self.redis.pipeline(transaction=False) as pipe:
            # an empty queue does not exist: when none of them does (agents coming online,
            # a burst of chats already routed) the pass ends here
            pipe.exists(*(self.keys.queue(t) for t in topics))
            pipe.smembers(self.keys.available)
            pipe.get(self.keys.agents_version)
            for t in topics:
                pipe.zrange(self.keys.queue(t), 0, guess - 1, withscores=True)
            queued, members, version, *heads = await pipe.execute()
        agent_ids = sorted(text(m) for m in members)
        if not agent_ids or not queued:
            return Snapshot([], [], False)
        if self._free_seen:
            agents, chats = await asyncio.gather(
                self._agents(agent_ids, version), self._chats(topics, heads)
            )
        else:
            agents, chats = await self._agents(agent_ids, version), None
        free = sum(a.free for a in agents if a.available)
        self._free_seen = free > 0
        if free == 0:
            return Snapshot([], agents, False)
        need = window or window_for(free)
        if window is None:
            self._guess = need  # (a pass looking further back does not move it)
        short = guess < need and any(len(h) >= guess for h in heads)
        if short:
            heads = await self._heads(topics, need)
        if short or chats is None:
            chats = await self._chats(topics, heads)
        return self._cut(topics, heads, chats, need, agents)

    async def _heads(self, topics: Sequence[str], window: int) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for t in topics:
                pipe.zrange(self.keys.queue(t), 0, window - 1, withscores=True)
            return list(await pipe.execute())

    async def _agents(self, agent_ids: list[str], version: bytes | None) -> list[AgentView]:
        """Every available agent's capacity, status, load and skills (skills are cached
        while the agents' version counter, bumped on every change of skills or capacity,
        stays the same)."""
        if version != self._skills_version:
            self._skills.clear()
            self._skills_version = version
        uncached = [a for a in agent_ids if a not in self._skills]
        # one script call for every agent's capacity, status and load (a flat reply),
        # not two commands per agent: a pass may weigh a thousand agents
        views = self.scripts.call(
            "snapshot_agents",
            each=[
                {"agent": self.keys.agent(a), "agent_chats": self.keys.agent_chats(a)}
                for a in agent_ids
            ],
        )
        if uncached:
            async with self.redis.pipeline(transaction=False) as pipe:
                for a in uncached:
                    pipe.hgetall(self.keys.agent_skills(a))
                skills, flat = await asyncio.gather(pipe.execute(), views)
            for a, raw in zip(uncached, skills, strict=True):
                self._skills[a] = {text(k): int(v) for k, v in raw.items()}
        else:
            flat = await views
        agents: list[AgentView] = []
        for j, a in enumerate(agent_ids):
            cap, idle, status, disabled, load = flat[5 * j : 5 * j + 5]
            agents.append(
                AgentView(
                    id=a,
                    skills=self._skills[a],
                    capacity=int(cap or 0),
                    load=int(load),
                    idle_since_ms=int(idle or 0),
                    # a member of the available set: it has a live connection
                    available=agent_presence.receives_chats(
                        agent_presence.status_of(text(status)),
                        disabled == b"1",
                        connected=True,
                    ),
                )
            )
        return agents

    async def _chats(self, topics: Sequence[str], heads: Sequence[Any]) -> dict[str, ChatView]:
        """The routing view of every chat in ``heads`` (one script call, a flat reply: two
        commands a chat in a pipeline cost ~200 ms of parsing for 3,000 chats)."""
        chat_ids = [text(member) for reply in heads for member, _ in reply]
        if not chat_ids:
            return {}
        flat = await self.scripts.call(
            "snapshot_chats",
            each=[
                {"chat": self.keys.chat(c), "chat_declined": self.keys.chat_declined(c)}
                for c in chat_ids
            ],
        )
        out: dict[str, ChatView] = {}
        for i, c in enumerate(chat_ids):
            req, opt, relaxed, declined = flat[4 * i : 4 * i + 4]
            out[c] = ChatView(
                id=c,
                required=decode_skills(text(req)),
                optional=decode_skills(text(opt)),
                relaxed=relaxed == b"1",
                declined=frozenset(text(m) for m in declined),
            )
        return out

    @staticmethod
    def _cut(
        topics: Sequence[str],
        heads: Sequence[Any],
        views: dict[str, ChatView],
        window: int,
        agents: list[AgentView],
    ) -> Snapshot:
        """The first ``window`` chats of each queue, in service order (lowest score
        first over all the queues)."""
        entries: list[tuple[float, str]] = []
        topic_of: dict[str, str] = {}
        more = False
        for topic, reply in zip(topics, heads, strict=True):
            reply = reply[:window]
            more |= len(reply) >= window
            for member, score in reply:
                chat_id = text(member)
                entries.append((score, chat_id))
                topic_of[chat_id] = topic
        if not entries:
            return Snapshot([], agents, False)
        entries.sort()
        chats = [views[c] for _, c in entries]
        return Snapshot(chats, agents, more, topic_of, window)
