"""Rate limits shared by every process: fixed one-minute windows counted in Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.keys import Keys


class RateLimits:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def hit(self, kind: str, subject: str, now_ms: int, per_minute: int) -> bool:
        """Count one event; False when the limit for this minute is used up."""
        key = self.keys.rate(kind, subject, now_ms // 60_000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        return int(count) <= per_minute
