"""Per-address rate limits shared by every process (fixed one-minute windows in Redis)."""

from __future__ import annotations

from chatserver.hub.node import Node


async def hit(node: Node, kind: str, subject: str, per_minute: int) -> bool:
    """Count one event; False when the limit for this minute is used up."""
    return await node.rate_limits.hit(kind, subject, per_minute, node.now())
