"""Per-address rate limits shared by every process (fixed one-minute windows in Redis)."""

from __future__ import annotations

from chatserver.hub.node import Node


async def hit(node: Node, kind: str, subject: str, per_minute: int) -> bool:
    """Count one event; False when the limit for this minute is used up."""
    window = node.now() // 60_000
    key = node.keys.rate(kind, subject, window)
    async with node.redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = await pipe.execute()
    return int(count) <= per_minute
