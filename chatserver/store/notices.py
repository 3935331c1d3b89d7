"""Outage notices in Redis: posting and ending (one script each, which also publishes the
frame every process relays), reading those in force, and which chats saw which notice."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

from chatserver.core.notices import Notice, is_active
from chatserver.protocol import encode
from chatserver.store.codec import text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts


def notice_frame(notice: Notice, *, for_visitors: bool = False) -> dict[str, Any]:
    """The ``notice`` frame (docs/protocol.md); visitors are not told who posted it."""
    frame = {"type": "notice", **notice.as_dict()}
    if for_visitors:
        del frame["by"]
    return frame


def end_frame(notice_id: str) -> dict[str, Any]:
    return {"type": "notice_end", "id": notice_id}


class NoticeStore:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts) -> None:
        self.redis, self.keys, self.scripts = redis, keys, scripts

    def _keys(self) -> dict[str, Any]:
        k = self.keys
        return {"notices": k.notices, "expiry": k.notices_expiry, "channel": k.notice_channel}

    async def post(self, notice: Notice, now: int, max_active: int) -> bool:
        """Store and publish ``notice``; False when ``max_active`` are in force already."""
        reply = await self.scripts.call(
            "notice_post",
            **self._keys(),
            notice_id=notice.id,
            notice=json.dumps(notice.as_dict()),
            now=now,
            max_active=max_active,
            expires_at=notice.expires_at if notice.expires_at is not None else "+inf",
            frame=encode(notice_frame(notice)),
        )
        return bool(int(reply[0]))

    async def end(self, notice_id: str) -> Notice | None:
        """End and publish the end of a notice; None if there is none with that id."""
        raw = await self.scripts.call(
            "notice_end", **self._keys(), notice_id=notice_id, frame=encode(end_frame(notice_id))
        )
        return Notice.from_dict(json.loads(text(raw))) if raw else None

    async def all(self, now: int) -> list[Notice]:
        """The notices in force at ``now``, oldest first."""
        raw = await self.redis.hgetall(self.keys.notices)
        notices = []
        for value in raw.values():
            try:
                notice = Notice.from_dict(json.loads(text(value)))
            except (ValueError, TypeError):
                continue
            if is_active(notice, now):
                notices.append(notice)
        return sorted(notices, key=lambda n: (n.created_at, n.id))

    async def mark_seen(self, seen: Iterable[tuple[str, str]], ttl_s: int) -> None:
        """Remember that each (chat, notice) pair's visitor was shown the notice."""
        pairs = list(seen)
        if not pairs:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id, notice_id in pairs:
                key = self.keys.chat_notices(chat_id)
                pipe.sadd(key, notice_id)
                pipe.expire(key, ttl_s)
            await pipe.execute()
