"""The agents online, as availability reads them: the ``available`` set (online,
connected, enabled) and each one's skills.

Skills are cached while the agents' version counter (bumped on every change of skills,
capacity or disabling) stays the same, so a read costs one pipelined round trip and one
more only for agents not seen since the last change.
"""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.core.routing import AgentView
from chatserver.store.codec import text
from chatserver.store.keys import Keys

AGENTS_CHANGED = b"agents"
"""Published on the queue channel when an agent may have joined or left the available set."""


class OnlineAgents:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._version: bytes | None = None
        self._skills: dict[str, dict[str, int]] = {}

    @property
    def version(self) -> bytes | None:
        """The agents' version counter as of the last read (changes with any agent's
        skills, capacity or disabling)."""
        return self._version

    async def read(self) -> list[AgentView]:
        """The available agents with their skills (capacity and load are not read: an
        agent at capacity is still someone who will answer)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.keys.available)
            pipe.get(self.keys.agents_version)
            members, version = await pipe.execute()
        ids = sorted(text(m) for m in members)
        if version != self._version:
            self._skills.clear()
            self._version = version
        # forget agents that left, so that the cache is bounded by the agents online
        for gone in set(self._skills) - set(ids):
            del self._skills[gone]
        missing = [a for a in ids if a not in self._skills]
        if missing:
            async with self.redis.pipeline(transaction=False) as pipe:
                for a in missing:
                    pipe.hgetall(self.keys.agent_skills(a))
                for a, skills in zip(missing, await pipe.execute(), strict=True):
                    self._skills[a] = {text(k): int(v) for k, v in skills.items()}
        return [
            AgentView(id=a, skills=self._skills[a], capacity=1, load=0, idle_since_ms=0)
            for a in ids
        ]
