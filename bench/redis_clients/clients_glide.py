"""valkey-glide adapters: plain, and with the auto-batching layer (``glide_batch.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.redis_clients.base import Adapter, OnMessage, Op


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
        await self._stop_reader()
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


