"""The routing timers: offers that lapse, chats to relax, chats nobody took in time (missed),
idle chats, agents' presence expiries and grace periods.  Each is a sorted set by due
time; the timers job reads what is due (``core/timers.py`` decides what to do)."""

from __future__ import annotations

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
