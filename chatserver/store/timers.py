"""The routing timers: offers that lapse, chats to relax, chats nobody took in time (missed),
idle chats, agents' presence expiries and grace periods, agents released from active
chats.  Each is a sorted set by due time; the timers job reads what is due
(``core/timers.py`` and ``core/released.py`` decide what to do)."""

from __future__ import annotations

from typing import Any

from chatserver.store.codec import text
from chatserver.store.scripts import ScriptStore


class TimerStore(ScriptStore):
    """What is due, and idle chats rescheduled."""

    async def due(self, now_ms: int, limit: int = 200) -> dict[str, list[str]]:
        """Everything whose time has come: offers, relaxations, misses, idle chats,
        expired presence and ended grace periods."""
        names = {
            "offers": self.keys.offers,
            "relax": self.keys.relax,
            "missed": self.keys.queue_deadlines,
            "idle": self.keys.idle,
            "presence": self.keys.presence,
            "graces": self.keys.graces,
        }
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in names.values():
                pipe.zrangebyscore(key, "-inf", now_ms, start=0, num=limit)
            replies = await pipe.execute()
        return {name: [text(m) for m in reply] for name, reply in zip(names, replies, strict=True)}

    async def reschedule_idle(self, chat_id: str, at_ms: int) -> None:
        await self.redis.zadd(self.keys.idle, {chat_id: at_ms}, xx=True)

    async def due_released(self, now_ms: int, limit: int = 200) -> list[tuple[str, str]]:
        """Released agents' participations due for a check (``core/released.py``):
        (note, due time as stored)."""
        reply: Any = await self.redis.zrangebyscore(
            self.keys.released, "-inf", now_ms, start=0, num=limit, withscores=True
        )
        return [(text(note), str(int(due))) for note, due in reply]

    async def released_done(self, note: str, due: str) -> bool:
        """Drop a checked note, unless a newer release moved it meanwhile."""
        return bool(
            await self.scripts.call("release_done", released=self.keys.released, note=note, due=due)
        )
