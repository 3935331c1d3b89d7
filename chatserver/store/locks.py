"""A lease lock shared by the processes (the records schema migration takes it)."""

from __future__ import annotations

from redis.asyncio import Redis


class Lease:
    def __init__(self, redis: Redis, key: str, owner: str) -> None:
        self.redis = redis
        self.key = key
        self.owner = owner

    async def take(self, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.key, self.owner, nx=True, px=ttl_ms))

    async def drop(self) -> None:
        await self.redis.delete(self.key)
