"""Publishing on the channels every process listens to: an agent's, a visitor's, a chat's
and the queue channel.  Payloads are built by the caller (``hub/notifier.py`` for control
messages, ``store/messages.publication`` for chat frames)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from chatserver.store.keys import Keys
from chatserver.store.messages import participant


@dataclass(frozen=True, slots=True)
class Assignment:
    """What one assignment of a routing pass publishes: the agent's control message and,
    for a chat that went straight to active (auto-accept), the chat's new state on its
    channel, after recording the agent as a participant."""

    agent_id: str
    chat_id: str
    control: bytes
    chat_frame: bytes | None = None


class Publisher:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def using(self, redis: Redis) -> Publisher:
        return Publisher(redis, self.keys)

    async def agent(self, agent_id: str, payload: bytes) -> None:
        await self.redis.publish(self.keys.agent_channel(agent_id), payload)

    async def visitor(self, visitor_id: str, payload: bytes) -> None:
        await self.redis.publish(self.keys.visitor_channel(visitor_id), payload)

    async def queues(self, payload: bytes) -> None:
        await self.redis.publish(self.keys.queue_channel, payload)

    async def assignments(self, done: Sequence[Assignment]) -> None:
        """A routing pass's notifications, one pipeline."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for a in done:
                if a.chat_frame is not None:
                    pipe.hset(
                        self.keys.chat_meta(a.chat_id),
                        f"p:{participant('agent', a.agent_id)}",
                        "1",
                    )
                pipe.publish(self.keys.agent_channel(a.agent_id), a.control)
                if a.chat_frame is not None:
                    pipe.publish(self.keys.chat_channel(a.chat_id), a.chat_frame)
            await pipe.execute()
