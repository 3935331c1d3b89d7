"""The visitor presence shell: every visitor's sockets on every process, in Redis.

The rule is :mod:`chatserver.core.presence`; each method here is one script that applies
one of its steps atomically, so the processes agree on who is present however their
sockets are spread:

- ``connect`` / ``disconnect``: a socket of the visitor opened or closed on this process;
  the last close anywhere marks when the visitor counts as gone (``now + grace``; only a
  visitor with an open chat is marked: nothing else would end);
- ``heartbeat``: this process's open sockets are still alive (their expiry moves on);
- ``sweep``: the sockets of a process that died stopped heartbeating: once expired they are
  dropped, and the visitor counts as gone ``grace`` after the last expiry.

The timers read the due gone marks (``due_gone``) and end those visitors' chats with
``RoutingStore.end_chat(..., if_visitor_gone=True)``, which re-checks in the same step that
no socket opened in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from chatserver.settings import Settings
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts

HEARTBEAT_CHUNK = 500
"""Visitors refreshed per script call (one call holds Redis for its duration)."""
KEY_SLACK_MS = 60_000
"""A connections key outlives its newest expiry by this much, so that the sweeper (which
runs at the expiry) still finds it; one left behind by a process that died expires."""


class VisitorStore:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.ttl_ms = int(settings.presence_ttl_s * 1000)
        self.grace_ms = int(settings.visitor_leave_grace_s * 1000)
        self.hash_ttl_s = int(settings.visitor_token_ttl_s)

    def _keys(self, visitor_id: str) -> dict[str, Any]:
        k = self.keys
        return {
            "conns": k.visitor_conns(visitor_id),
            "presence": k.visitor_presence,
            "gone": k.visitor_gone,
        }

    async def connect(self, visitor_id: str, conn_id: str, now_ms: int) -> int:
        """Returns the visitor's number of live sockets (on every process)."""
        return int(
            await self.scripts.call(
                "visitor_connect",
                **self._keys(visitor_id),
                visitor_id=visitor_id,
                conn_id=conn_id,
                expiry=now_ms + self.ttl_ms,
                now=now_ms,
                lifetime=self.ttl_ms + KEY_SLACK_MS,
            )
        )

    async def disconnect(self, visitor_id: str, conn_id: str, now_ms: int) -> int:
        """Returns the visitor's number of live sockets left (on every process)."""
        return int(
            await self.scripts.call(
                "visitor_disconnect",
                **self._keys(visitor_id),
                visitor=self.keys.visitor(visitor_id),
                visitor_id=visitor_id,
                conn_id=conn_id,
                now=now_ms,
                gone_at=now_ms + self.grace_ms,
            )
        )

    async def heartbeat(self, conns: Mapping[str, Sequence[str]], now_ms: int) -> None:
        """Refresh this process's open sockets (visitor -> connection ids)."""
        items = [(v, ids) for v, ids in conns.items() if ids]
        expiry = now_ms + self.ttl_ms
        k = self.keys
        for start in range(0, len(items), HEARTBEAT_CHUNK):
            await self.scripts.call(
                "visitor_heartbeat",
                presence=k.visitor_presence,
                gone=k.visitor_gone,
                now=now_ms,
                expiry=expiry,
                hash_ttl=self.hash_ttl_s,
                lifetime=self.ttl_ms + KEY_SLACK_MS,
                each=[
                    {
                        "visitor": k.visitor(visitor_id),
                        "conns": k.visitor_conns(visitor_id),
                        "visitor_id": visitor_id,
                        # connection ids are new_id()s (hex): no commas
                        "conn_ids": ",".join(ids),
                    }
                    for visitor_id, ids in items[start : start + HEARTBEAT_CHUNK]
                ],
            )

    async def sweep(self, visitor_id: str, now_ms: int) -> str:
        """'present' or 'left' (every socket of the visitor had expired)."""
        return text(
            await self.scripts.call(
                "visitor_sweep",
                **self._keys(visitor_id),
                visitor=self.keys.visitor(visitor_id),
                visitor_id=visitor_id,
                now=now_ms,
                grace=self.grace_ms,
            )
        )

    async def due_sweeps(self, now_ms: int, limit: int = 200) -> list[str]:
        """Visitors whose newest socket expiry has passed."""
        members = await self.redis.zrangebyscore(
            self.keys.visitor_presence, "-inf", now_ms, start=0, num=limit
        )
        return [text(m) for m in members]

    async def due_gone(self, now_ms: int, limit: int = 500) -> list[tuple[str, int]]:
        """Visitors who count as gone by now, with their mark's due time."""
        members: Any = await self.redis.zrangebyscore(
            self.keys.visitor_gone, "-inf", now_ms, start=0, num=limit, withscores=True
        )
        return [(text(m), int(score)) for m, score in members]

    async def clear_gone(self, visitor_id: str, due_ms: int) -> bool:
        """Drop the gone mark read with ``due_ms`` (a newer one stays)."""
        return bool(
            await self.scripts.call(
                "visitor_gone_clear",
                gone=self.keys.visitor_gone,
                visitor_id=visitor_id,
                due_read=due_ms,
            )
        )

    async def timers_tick(self, now_ms: int) -> int:
        """Note a pass of the timers; returns when they last resumed after an outage
        (no pass anywhere for longer than the presence TTL)."""
        return int(
            await self.scripts.call(
                "timers_tick",
                timers=self.keys.timers,
                now=now_ms,
                max_gap=self.ttl_ms,
                lifetime=7 * 86_400_000,
            )
        )

    async def state(self, visitor_id: str) -> tuple[dict[str, int], int | None]:
        """(connection id -> expiry, gone mark) as stored; for audits and tests."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(self.keys.visitor_conns(visitor_id), 0, -1, withscores=True)
            pipe.zscore(self.keys.visitor_gone, visitor_id)
            conns, gone = await pipe.execute()
        return (
            {text(c): int(e) for c, e in conns},
            None if gone is None else int(gone),
        )
