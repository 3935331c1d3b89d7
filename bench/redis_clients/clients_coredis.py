"""coredis adapters."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bench.redis_clients.base import Adapter, OnMessage, Op, PubSubChannels


class Coredis(PubSubChannels, Adapter):
    """coredis 6 (anyio-based; the client is an async context manager)."""

    name = "coredis"

    async def open(self, host: str, port: int) -> None:
        import coredis

        self._stack = contextlib.AsyncExitStack()
        if self.cluster:
            self.c: Any = coredis.RedisCluster(host=host, port=port)
        else:
            self.c = coredis.Redis(host=host, port=port)
        await self._stack.enter_async_context(self.c)
        self._ps: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self._stop_reader()
        await self._stack.aclose()

    async def script_load(self, source: str) -> str:
        if self.cluster:
            from coredis.commands.constants import NodeFlag  # noqa: F401

        res = await self.c.script_load(source)
        return res.decode() if isinstance(res, bytes) else str(res)

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        return await self.c.evalsha(sha, keys=keys, args=args)

    async def get(self, key: str) -> Any:
        return await self.c.get(key)

    async def set(self, key: str, value: bytes) -> Any:
        return await self.c.set(key, value)

    async def routing_reads(self, ops: list[Op]) -> list[Any]:
        reqs = []
        async with self.c.pipeline(transaction=False) as pipe:
            for name, args in ops:
                if name == "zrange":
                    reqs.append(pipe.zrange(args[0], args[1], args[2], withscores=True))
                elif name == "hmget":
                    reqs.append(pipe.hmget(args[0], list(args[1:])))
                else:
                    reqs.append(getattr(pipe, name)(*args))
        return [await r for r in reqs]

    async def publish(self, channel: str, data: bytes) -> Any:
        if self.cluster:
            return await self.c.spublish(channel, data)
        return await self.c.publish(channel, data)

    async def open_subscriber(self, on_message: OnMessage) -> None:
        self._ps = (self.c.sharded_pubsub(ignore_subscribe_messages=True) if self.cluster
                    else self.c.pubsub(ignore_subscribe_messages=True))
        await self._stack.enter_async_context(self._ps)
        self._reader = asyncio.get_running_loop().create_task(self._read(on_message))

    async def _read(self, on_message: OnMessage) -> None:
        while True:
            m = await self._ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if m is not None and m["type"] in ("message", "smessage"):
                ch = m["channel"]
                on_message(ch if isinstance(ch, bytes) else ch.encode(), m["data"])


class CoredisCluster(Coredis):
    name = "coredis cluster"
    cluster = True


