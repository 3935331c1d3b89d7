"""Reads that build what clients are shown about chats: chat hashes with their message
metadata, agents' names, queue ranks and average handle times.  Reads only: every change
is a script elsewhere in ``store/``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis

from chatserver.store.codec import text
from chatserver.store.keys import Keys

DEFAULT_HANDLE_S = 300.0
"""The handle time assumed for a topic before its first chat was handled."""


class ChatReads:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def using(self, redis: Redis) -> ChatReads:
        """The same reads over another connection (the drainer's own)."""
        return ChatReads(redis, self.keys)

    async def chats(
        self, chat_ids: Sequence[str]
    ) -> list[tuple[dict[Any, Any], dict[str, str]]]:
        """Each chat's hash and its message metadata (seq, read marks), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hgetall(self.keys.chat(chat_id))
                pipe.hgetall(self.keys.chat_meta(chat_id))
            replies = await pipe.execute()
        return [
            (replies[2 * i], {text(k): text(v) for k, v in replies[2 * i + 1].items()})
            for i in range(len(chat_ids))
        ]

    async def agent_names(self, agent_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(agent_ids))
        if not ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hget(self.keys.agent(agent_id), "name")
            names = await pipe.execute()
        return {a: text(n) or a for a, n in zip(ids, names, strict=True)}

    async def handle_time(self, topic: str) -> float:
        return float(await self.redis.hget(self.keys.handle_time, topic) or DEFAULT_HANDLE_S)

    async def queues(self, topics: Sequence[str]) -> list[tuple[list[str], float]]:
        """Each topic queue's chat ids in order, with the topic's average handle time."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zrange(self.keys.queue(topic), 0, -1)
                pipe.hget(self.keys.handle_time, topic)
            replies = await pipe.execute()
        return [
            ([text(m) for m in replies[2 * i]], float(replies[2 * i + 1] or DEFAULT_HANDLE_S))
            for i in range(len(topics))
        ]

    async def states(self, chat_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(state, topic, visitor) of each chat ('' for a chat that is gone)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hmget(self.keys.chat(chat_id), "state", "topic", "visitor")
            replies = await pipe.execute()
        return [(text(s), text(t), text(v)) for s, t, v in replies]
