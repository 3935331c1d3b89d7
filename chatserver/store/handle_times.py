"""The average handle time of each topic (an exponentially weighted mean of the seconds
from accept to end), used for wait estimates."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.core.queueing import update_average
from chatserver.store.keys import Keys


class HandleTimes:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def record(self, topic: str, seconds: float) -> None:
        # a read, then a write: two chats of one topic ending at the same moment may
        # each fold in their sample over the same previous mean (one sample lost from an
        # estimate; never a wrong chat state): listed in docs/architecture.md
        old = float(await self.redis.hget(self.keys.handle_time, topic) or 0)
        await self.redis.hset(self.keys.handle_time, topic, update_average(old, seconds))
