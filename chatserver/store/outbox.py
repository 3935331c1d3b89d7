"""The outbox: finished chats (and late ratings) waiting to become interaction records,
and agents' status changes waiting to be copied to SQL.

The outbox is a Redis Stream read through the consumer group ``records``
(``records/writer.py`` drives it); an entry is acknowledged and deleted only after its
record is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from chatserver.store.codec import text
from chatserver.store.keys import Keys

GROUP = "records"

Entry = tuple[Any, dict[str, str]]
"""(entry id, fields); the fields are empty for an entry deleted meanwhile."""


@dataclass(frozen=True, slots=True)
class ChatForRecord:
    chat: dict[str, str]
    history: list[str]
    first_page: list[Any]
    """The first ``page`` entries of the chat's log, as read (ids and raw fields)."""
    notices: list[str]


class Outbox:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.outbox, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def pending(self, consumer: str, count: int) -> list[Entry]:
        """This consumer's own unacknowledged entries."""
        return _entries(
            await self.redis.xreadgroup(GROUP, consumer, {self.keys.outbox: "0"}, count=count)
        )

    async def claim(self, consumer: str, idle_ms: int, count: int) -> list[Entry]:
        """Entries another consumer left pending longer than ``idle_ms``."""
        claimed = await self.redis.xautoclaim(
            self.keys.outbox,
            GROUP,
            consumer,
            min_idle_time=idle_ms,
            start_id="0-0",
            count=count,
        )
        return _entries([[self.keys.outbox, claimed[1]]] if claimed and claimed[1] else [])

    async def fresh(self, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        return _entries(
            await self.redis.xreadgroup(
                GROUP, consumer, {self.keys.outbox: ">"}, count=count, block=block_ms
            )
        )

    async def done(self, entry_ids: list[Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.outbox, GROUP, *entry_ids)
            pipe.xdel(self.keys.outbox, *entry_ids)
            await pipe.execute()

    async def read_chat(self, chat_id: str, page: int, seal_ttl_s: int) -> ChatForRecord:
        """A finished chat's state for its record, in one round trip.

        First the log is sealed (``post`` refuses a chat whose meta is not open): the
        process that ended the chat seals it right after ``close_chat`` (another slot, so
        another step), but if it died in between, a message posted now would be
        acknowledged and yet missing from the record.  Sealed here, in order before the
        read on the same connection and slot, every acknowledged message is in what is
        read.  ``NX`` only gives an expiry to a meta hash this created (its chat's keys
        had expired)."""
        meta = self.keys.chat_meta(chat_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(meta, "open", "0")
            pipe.expire(meta, seal_ttl_s, nx=True)
            pipe.hgetall(self.keys.chat(chat_id))
            pipe.lrange(self.keys.chat_history(chat_id), 0, -1)
            pipe.xrange(self.keys.chat_log(chat_id), "-", "+", count=page)
            pipe.smembers(self.keys.chat_notices(chat_id))
            _, _, chat, history, first, seen = await pipe.execute()
        return ChatForRecord(
            {text(k): text(v) for k, v in chat.items()},
            [text(e) for e in history],
            first,
            [text(n) for n in seen],
        )

    async def log_after(self, chat_id: str, after: str, page: int) -> list[Any]:
        """Up to ``page`` log entries after entry id ``after``."""
        key = self.keys.chat_log(chat_id)
        return cast(list[Any], await self.redis.xrange(key, f"({after}", "+", count=page))

    async def expire_chats(self, chat_ids: set[str], retention_s: int) -> None:
        """Let recorded chats' live keys expire after the normal retention."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                for key in (
                    self.keys.chat(chat_id),
                    self.keys.chat_history(chat_id),
                    self.keys.chat_declined(chat_id),
                    self.keys.chat_log(chat_id),
                    self.keys.chat_ids(chat_id),
                    self.keys.chat_meta(chat_id),
                    self.keys.chat_notices(chat_id),
                ):
                    pipe.expire(key, retention_s)
            await pipe.execute()

    async def status_changes(self, count: int) -> list[tuple[str, dict[str, str]]]:
        entries: Any = await self.redis.xrange(self.keys.status_log, count=count)
        return [
            (text(entry_id), {text(k): text(v) for k, v in fields.items()})
            for entry_id, fields in entries or []
        ]

    async def drop_status_changes(self, entry_ids: list[str]) -> None:
        await self.redis.xdel(self.keys.status_log, *entry_ids)

    async def hand_to_outbox(self, chat_id: str, state: str, now_ms: int) -> None:
        await self.redis.xadd(self.keys.outbox, {"chat": chat_id, "state": state, "ts": now_ms})

    async def outbox_entries(self, count: int = 100_000) -> list[dict[str, str]]:
        """The outbox, oldest first (used by audits and tests; the records writer reads it
        with a consumer group)."""
        entries: Any = await self.redis.xrange(self.keys.outbox, count=count)
        return [{text(k): text(v) for k, v in fields.items()} for _, fields in entries]


def _entries(reply: Any) -> list[Entry]:
    return [
        (entry_id, {text(k): text(v) for k, v in (fields or {}).items()})
        for _stream, batch in reply or []
        for entry_id, fields in batch
    ]
