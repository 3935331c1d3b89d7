"""A visitor's profile: the name they gave and their open chat (kept in the visitor's
hash; the chat field is written by the chat scripts)."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.codec import text
from chatserver.store.keys import Keys


class VisitorProfiles:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def name(self, visitor_id: str) -> str:
        return text(await self.redis.hget(self.keys.visitor(visitor_id), "name"))

    async def open_chat(self, visitor_id: str) -> str:
        """The visitor's open chat id, or ''."""
        return text(await self.redis.hget(self.keys.visitor(visitor_id), "chat"))

    async def set_name(self, visitor_id: str, name: str) -> None:
        await self.redis.hset(self.keys.visitor(visitor_id), "name", name)
