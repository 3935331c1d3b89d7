"""Per-subject rate limits shared by every process: fixed one-minute windows in Redis
(the ``{rl}`` slot).  ``web/ratelimit.py`` counts the same way on the node's client."""

from __future__ import annotations

from redis.asyncio import Redis

from chatserver.store.keys import Keys

WINDOW_MS = 60_000


class RateLimits:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def hit(self, kind: str, subject: str, per_minute: int, now_ms: int) -> bool:
        """Count one event of ``kind`` by ``subject``; False when this minute's
        ``per_minute`` are used up (the event is counted all the same)."""
        key = self.keys.rate(kind, subject, now_ms // WINDOW_MS)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * WINDOW_MS // 1000)
            count, _ = await pipe.execute()
        return int(count) <= per_minute
