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
import contextlib
from collections.abc import Callable
from typing import Any

Op = tuple[str, tuple[Any, ...]]  # ("hmget", (key, f1, f2)), ("scard", (key,)) ...
OnMessage = Callable[[bytes, bytes], None]  # (channel, payload)


class Adapter:
    name = "?"
    reader_errors: list[str]

    def __init__(self) -> None:
        self.reader_errors = []
    cluster = False
    batches = "?"  # what the client does with concurrent commands (for the report)

    async def open(self, host: str, port: int) -> None: ...
    async def close(self) -> None: ...
    async def script_load(self, source: str) -> str: ...
    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any: ...
    async def get(self, key: str) -> Any: ...
    async def set(self, key: str, value: bytes) -> Any: ...
    async def routing_reads(self, ops: list[Op]) -> list[Any]: ...
    async def publish(self, channel: str, data: bytes) -> Any: ...
    async def open_subscriber(self, on_message: OnMessage) -> None: ...
    async def subscribe(self, channels: list[str]) -> None: ...
    async def unsubscribe(self, channels: list[str]) -> None: ...


# ---- redis-py ------------------------------------------------------------------------------


def _redispy_pipe(pipe: Any, ops: list[Op]) -> None:
    for name, args in ops:
        if name == "zrange":
            pipe.zrange(args[0], args[1], args[2], withscores=True)
        else:
            getattr(pipe, name)(*args)


class RedisPyProduct(Adapter):
    """The product today: BlockingConnectionPool (200), hiredis, retry, Scripts wrapper."""

    name = "redis-py (product pool)"

    async def open(self, host: str, port: int) -> None:
        from chatserver.store.redis_conn import connect

        self.r = connect(f"redis://{host}:{port}/0")
        self._sources: dict[str, Any] = {}
        self._ps: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
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

    async def subscribe(self, channels: list[str]) -> None:
        await self._ps.subscribe(*channels)

    async def unsubscribe(self, channels: list[str]) -> None:
        await self._ps.unsubscribe(*channels)


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


# ---- valkey-glide --------------------------------------------------------------------------


class Glide(Adapter):
    """valkey-glide 2.x: Rust core over FFI, one multiplexed connection per node."""

    name = "valkey-glide"

    async def open(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.c = await self._client()
        self._sub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}

    async def _client(self, **extra: Any) -> Any:
        from glide import (
            GlideClient,
            GlideClientConfiguration,
            GlideClusterClient,
            GlideClusterClientConfiguration,
            NodeAddress,
        )

        addr = [NodeAddress(self.host, self.port)]
        if self.cluster:
            return await GlideClusterClient.create(
                GlideClusterClientConfiguration(addr, request_timeout=5000, **extra))
        return await GlideClient.create(
            GlideClientConfiguration(addr, request_timeout=5000, **extra))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._sub is not None:
            await self._sub.close()
        await self.c.close()

    async def script_load(self, source: str) -> str:
        from glide import Script

        script = Script(source)
        sha = script.get_hash()
        self._scripts[sha] = script
        return str(sha)

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        # invoke_script: EVALSHA by hash, SCRIPT LOAD on NOSCRIPT, routed by the keys' slot
        return await self.c.invoke_script(self._scripts[sha], keys=keys,
                                          args=[str(a) for a in args])

    async def get(self, key: str) -> Any:
        return await self.c.get(key)

    async def set(self, key: str, value: bytes) -> Any:
        return await self.c.set(key, value)

    async def routing_reads(self, ops: list[Op]) -> list[Any]:
        from glide import Batch, ClusterBatch, RangeByIndex

        batch: Any = ClusterBatch(is_atomic=False) if self.cluster else Batch(is_atomic=False)
        for name, args in ops:
            if name == "zrange":
                batch.zrange_withscores(args[0], RangeByIndex(args[1], args[2]))
            elif name == "hmget":
                batch.hmget(args[0], list(args[1:]))
            else:
                getattr(batch, name)(*args)
        return list(await self.c.exec(batch, raise_on_error=True) or [])

    async def publish(self, channel: str, data: bytes) -> Any:
        if self.cluster:
            return await self.c.publish(data, channel, sharded=True)
        return await self.c.publish(data, channel)

    async def open_subscriber(self, on_message: OnMessage) -> None:
        # a dedicated client for subscriptions (glide keeps them and re-subscribes on
        # reconnect and slot moves); subscriptions are changed at run time below
        from glide import GlideClientConfiguration, GlideClusterClientConfiguration

        if self.cluster:
            subs: Any = GlideClusterClientConfiguration.PubSubSubscriptions(
                channels_and_patterns={
                    GlideClusterClientConfiguration.PubSubChannelModes.Sharded: set()},
                callback=None, context=None)
        else:
            subs = GlideClientConfiguration.PubSubSubscriptions(
                channels_and_patterns={GlideClientConfiguration.PubSubChannelModes.Exact: set()},
                callback=None, context=None)
        self._sub = await self._client(pubsub_subscriptions=subs)
        self._reader = asyncio.get_running_loop().create_task(self._read(on_message))

    async def _read(self, on_message: OnMessage) -> None:
        while True:
            m = await self._sub.get_pubsub_message()
            ch = m.channel if isinstance(m.channel, bytes) else m.channel.encode()
            on_message(ch, m.message)

    async def subscribe(self, channels: list[str]) -> None:
        if self.cluster:
            await self._sub.ssubscribe(set(channels), timeout_ms=5000)
        else:
            await self._sub.subscribe(set(channels), timeout_ms=5000)

    async def unsubscribe(self, channels: list[str]) -> None:
        if self.cluster:
            await self._sub.sunsubscribe(set(channels), timeout_ms=5000)
        else:
            await self._sub.unsubscribe(set(channels), timeout_ms=5000)


class GlideCluster(Glide):
    name = "valkey-glide cluster"
    cluster = True


class GlideBatched(Glide):
    """valkey-glide with ``glide_batch.GlideAutoBatch`` in front of the command client:
    the commands of one loop iteration go out as one glide batch."""

    name = "valkey-glide + auto-batch"

    async def open(self, host: str, port: int) -> None:
        from bench.redis_clients.glide_batch import GlideAutoBatch

        await super().open(host, port)
        self.ab = GlideAutoBatch(self.c, self.cluster)

    async def close(self) -> None:
        await self.ab.aclose()
        await super().close()

    async def script_load(self, source: str) -> str:
        if self.cluster:
            from glide import AllPrimaries

            res = await self.c.custom_command(["SCRIPT", "LOAD", source], AllPrimaries())
            res = next(iter(res.values())) if isinstance(res, dict) else res
        else:
            res = await self.c.custom_command(["SCRIPT", "LOAD", source])
        return res.decode() if isinstance(res, bytes) else str(res)

    async def evalsha(self, sha: str, keys: list[str], args: list[Any]) -> Any:
        return await self.ab.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def get(self, key: str) -> Any:
        return await self.ab.execute("GET", key)

    async def set(self, key: str, value: bytes) -> Any:
        return await self.ab.execute("SET", key, value)

    async def publish(self, channel: str, data: bytes) -> Any:
        return await self.ab.execute("SPUBLISH" if self.cluster else "PUBLISH", channel, data)


class GlideBatchedCluster(GlideBatched):
    name = "valkey-glide cluster + auto-batch"
    cluster = True


# ---- coredis -------------------------------------------------------------------------------


class Coredis(Adapter):
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
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
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

    async def subscribe(self, channels: list[str]) -> None:
        await self._ps.subscribe(*channels)

    async def unsubscribe(self, channels: list[str]) -> None:
        await self._ps.unsubscribe(*channels)


class CoredisCluster(Coredis):
    name = "coredis cluster"
    cluster = True


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
