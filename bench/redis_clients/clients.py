"""One adapter per client under test, all with the same small surface:

- ``evalsha(sha, keys, args)``, ``get(k)``, ``set(k, v)``;
- ``routing_reads(ops)``: one pipeline/batch of the routing snapshot's reads;
- ``publish(ch, data)`` and a subscriber (``subscribe``/``unsubscribe``/``messages``) that
  uses sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a cluster.

Each adapter uses its client the way its documentation says to; ``redis-py/product`` is
exactly the product's ``chatserver.store.redis_conn.connect`` pool and its ``Scripts``
wrapper.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.redis_clients.base import Adapter, OnMessage, Op, PubSubChannels
from bench.redis_clients.clients_coredis import Coredis, CoredisCluster
from bench.redis_clients.clients_glide import (
    Glide,
    GlideBatched,
    GlideBatchedCluster,
    GlideCluster,
)

__all__ = ["CLUSTER", "SINGLE", "Adapter", "OnMessage", "Op"]

# ---- redis-py ------------------------------------------------------------------------------


def _redispy_pipe(pipe: Any, ops: list[Op]) -> None:
    for name, args in ops:
        if name == "zrange":
            pipe.zrange(args[0], args[1], args[2], withscores=True)
        else:
            getattr(pipe, name)(*args)


class RedisPyProduct(PubSubChannels, Adapter):
    """The product today: BlockingConnectionPool (200), hiredis, retry, Scripts wrapper."""

    name = "redis-py (product pool)"

    async def open(self, host: str, port: int) -> None:
        from chatserver.store.redis_conn import connect_pooled

        # the product's client before it moved to store/multiplex.py
        self.r = connect_pooled(f"redis://{host}:{port}/0", max_connections=200)
        self._sources: dict[str, Any] = {}
        self._ps: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self._stop_reader()
        if self._ps is not None:
            await self._ps.aclose()
        await self.r.aclose()

    async def script_load(self, source: str) -> str:
        script = self.r.register_script(source)  # what chatserver.store.scripts does
        sha = str(await self.r.script_load(source))
        self._sources[sha] = script
        return sha

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        return await self._sources[sha](keys=keys, args=args)

    async def get(self, key: str) -> Any:
        return await self.r.get(key)

    async def set(self, key: str, value: bytes) -> Any:
        return await self.r.set(key, value)

    async def routing_reads(self, ops: list[Op]) -> list[Any]:
        async with self.r.pipeline(transaction=False) as pipe:
            _redispy_pipe(pipe, ops)
            return list(await pipe.execute())

    async def publish(self, channel: str, data: bytes) -> Any:
        return await self.r.publish(channel, data)

    async def open_subscriber(self, on_message: OnMessage) -> None:
        # like chatserver/hub/fanout.py: one PubSub, a reader task on get_message
        self._ps = self.r.pubsub(ignore_subscribe_messages=True)
        await self._ps.subscribe("spike:home")
        self._reader = asyncio.get_running_loop().create_task(self._read(on_message))

    async def _read(self, on_message: OnMessage) -> None:
        while True:
            m = await self._ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if m is not None and m["type"] in ("message", "smessage"):
                on_message(m["channel"], m["data"])


class RedisPyCluster(RedisPyProduct):
    """redis-py's asyncio RedisCluster: a pool per node, ClusterPubSub for SSUBSCRIBE."""

    name = "redis-py cluster"
    cluster = True

    async def open(self, host: str, port: int) -> None:
        from redis.asyncio.cluster import RedisCluster

        self.r = RedisCluster(host=host, port=port, max_connections=200)
        await self.r.initialize()
        self._sources = {}
        self._ps = None
        self._reader = None

    async def script_load(self, source: str) -> str:
        sha = await self.r.script_load(source)  # redis-py sends SCRIPT LOAD to every primary
        sha = next(iter(sha.values())) if isinstance(sha, dict) else sha
        self._sources[str(sha)] = self.r.register_script(source)
        return str(sha)

    async def publish(self, channel: str, data: bytes) -> Any:
        return await self.r.spublish(channel, data)

    async def open_subscriber(self, on_message: OnMessage) -> None:
        self._ps = self.r.pubsub(ignore_subscribe_messages=True)
        self._on = on_message
        self._reader = asyncio.get_running_loop().create_task(self._read_sharded(on_message))

    async def _read_sharded(self, on_message: OnMessage) -> None:
        while True:
            try:
                m = await self._ps.get_sharded_message(ignore_subscribe_messages=True,
                                                       timeout=0.05)
            except Exception as e:  # counted: the reader must survive to be measured
                self.reader_errors.append(repr(e)[:200])
                await asyncio.sleep(0.01)
                continue
            if m is None:
                await asyncio.sleep(0)  # no subscription yet: the call returns at once
                continue
            if m["type"] in ("smessage", b"smessage"):
                on_message(m["channel"], m["data"])

    async def subscribe(self, channels: list[str]) -> None:
        await self._ps.ssubscribe(*channels)

    async def unsubscribe(self, channels: list[str]) -> None:
        await self._ps.sunsubscribe(*channels)


class AutoBatchAdapter(RedisPyProduct):
    """The prototype in ``autobatch.py``: one connection, one write per loop iteration.
    Pub/sub stays on redis-py's PubSub (its own connection)."""

    name = "auto-batch (prototype on redis-py)"

    async def open(self, host: str, port: int) -> None:
        from redis.asyncio import Redis

        from bench.redis_clients.autobatch import AutoBatch

        self.ab = AutoBatch(host, port)
        await self.ab.connect()
        self.r = Redis(host=host, port=port)  # pub/sub only
        self._sources = {}
        self._ps = None
        self._reader = None

    async def close(self) -> None:
        await super().close()
        await self.ab.aclose()

    async def script_load(self, source: str) -> str:
        return (await self.ab.execute("SCRIPT", "LOAD", source)).decode()

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        return await self.ab.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def get(self, key: str) -> Any:
        return await self.ab.execute("GET", key)

    async def set(self, key: str, value: bytes) -> Any:
        return await self.ab.execute("SET", key, value)

    async def routing_reads(self, ops: list[Op]) -> list[Any]:
        futs = []
        for name, args in ops:
            if name == "zrange":
                futs.append(self.ab.execute("ZRANGE", *args, "WITHSCORES"))
            else:
                futs.append(self.ab.execute(name.upper(), *args))
        return list(await asyncio.gather(*futs))

    async def publish(self, channel: str, data: bytes) -> Any:
        return await self.ab.execute("PUBLISH", channel, data)



SINGLE: dict[str, type[Adapter]] = {
    "redispy": RedisPyProduct,
    "autobatch": AutoBatchAdapter,
    "glide": Glide,
    "glidebatch": GlideBatched,
    "coredis": Coredis,
}
CLUSTER: dict[str, type[Adapter]] = {
    "redispy": RedisPyCluster,
    "glide": GlideCluster,
    "glidebatch": GlideBatchedCluster,
    "coredis": CoredisCluster,
}
