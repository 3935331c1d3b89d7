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

    async def chats(self, chat_ids: Sequence[str]) -> list[tuple[dict[Any, Any], dict[str, str]]]:
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

    async def metas(self, chat_ids: Sequence[str]) -> list[dict[str, str]]:
        """Each chat's message metadata (seq, read marks), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hgetall(self.keys.chat_meta(chat_id))
            replies = await pipe.execute()
        return [{text(k): text(v) for k, v in r.items()} for r in replies]

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

    async def queue_head(self, topic: str, count: int) -> list[str]:
        """The first ``count`` chat ids of a topic queue."""
        return [text(c) for c in await self.redis.zrange(self.keys.queue(topic), 0, count - 1)]

    async def offered(self) -> list[str]:
        """The chats offered to an agent and not accepted, declined or lapsed yet."""
        return [text(c) for c in await self.redis.zrange(self.keys.offers, 0, -1)]

    async def waiting_topics(self, chat_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(state, topic) of each chat, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hmget(self.keys.chat(chat_id), "state", "topic")
            replies = await pipe.execute()
        return [(text(s), text(t)) for s, t in replies]

    async def available_agents(self) -> set[str]:
        """Agents connected, online and enabled (who can be given a chat now)."""
        return {text(a) for a in await self.redis.smembers(self.keys.available)}

    async def live_chats(self) -> list[tuple[str, list[str], list[str]]]:
        """Every open chat: (id, [state, topic, agent, created, accepted_at, details],
        [last_ts, last_role, seq]), sorted by id, in two round trips."""
        live = sorted(text(c) for c in await self.redis.smembers(self.keys.live_chats))
        if not live:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in live:
                pipe.hmget(
                    self.keys.chat(chat_id),
                    "state",
                    "topic",
                    "agent",
                    "created",
                    "accepted_at",
                    "details",
                )
                pipe.hmget(self.keys.chat_meta(chat_id), "last_ts", "last_role", "seq")
            replies = await pipe.execute()
        return [
            (chat_id, [text(v) for v in replies[2 * i]], [text(v) for v in replies[2 * i + 1]])
            for i, chat_id in enumerate(live)
        ]

    async def scrape(
        self, topics: Sequence[str], head: int
    ) -> tuple[list[tuple[int, list[tuple[str, float]]]], int]:
        """For the metrics: each topic queue's length and first ``head`` (chat, score)
        pairs, and the outbox length; one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcard(self.keys.queue(topic))
                pipe.zrange(self.keys.queue(topic), 0, head - 1, withscores=True)
            pipe.xlen(self.keys.outbox)
            replies = await pipe.execute()
        queues = [
            (int(replies[2 * i]), [(text(c), float(s)) for c, s in replies[2 * i + 1]])
            for i in range(len(topics))
        ]
        return queues, int(replies[-1])

    async def ping(self) -> None:
        await self.redis.ping()

    async def last_message_at(self, chat_ids: Sequence[str]) -> dict[str, int]:
        """When each chat last had a message (ms; 0: none), in one round trip."""
        if not chat_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hget(self.keys.chat_meta(chat_id), "last_ts")
            replies = await pipe.execute()
        return {c: int(text(v) or 0) for c, v in zip(chat_ids, replies, strict=True)}
