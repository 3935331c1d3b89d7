"""The supervisors who joined a chat (the record lists them)."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.keys import Keys


class Watchers:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def add(self, chat_id: str, agent_id: str) -> None:
        await self.redis.sadd(self.keys.chat_watchers(chat_id), agent_id)
