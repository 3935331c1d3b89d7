"""Lease locks shared by the processes: the records schema migration's, and the drain
lease (one drainer routes at a time)."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.scripts import Scripts


class Lease:
    def __init__(self, redis: Redis, key: str, owner: str) -> None:
        self.redis = redis
        self.key = key
        self.owner = owner

    async def take(self, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.key, self.owner, nx=True, px=ttl_ms))

    async def drop(self) -> None:
        await self.redis.delete(self.key)


class DrainLease:
    """The drain lease (``lua/drain_lease.lua``): taken, extended and dropped only by its
    owner, in one step each; it lapses by itself if the owner dies holding it."""

    def __init__(self, scripts: Scripts, key: str, owner: str) -> None:
        self.scripts = scripts
        self.key = key
        self.owner = owner

    async def hold(self, ttl_ms: int) -> bool:
        """Take or extend it for ``ttl_ms``; False while another owner holds it."""
        return bool(
            int(
                await self.scripts.call("drain_lease", lease=self.key, owner=self.owner, ttl=ttl_ms)
            )
        )

    async def drop(self) -> None:
        """Give it up (if still held by this owner)."""
        await self.scripts.call("drain_lease", lease=self.key, owner=self.owner, ttl=0)
