"""Pub/sub fan-out between hub processes.

One pub/sub connection per process.  Channels are subscribed while at least one local
listener wants them.  ``subscribe`` returns only once Redis has confirmed the subscription,
so a caller that then reads the chat log cannot miss a message published in between.
After the pub/sub connection is lost and restored, ``on_reconnect`` runs so that every
connection catches up from the log (pub/sub is a hint; the log is the truth).

Every use of the pub/sub connection (reading, subscribing, unsubscribing, reconnecting)
holds one lock, ``_io``: redis-py may read from the socket inside a subscribe (a
reconnect's handshake, a health check) and two readers of one socket fail with
``RuntimeError: read() called while another coroutine is already waiting``.  The reader
holds the lock only for one short poll (``POLL_S``) at a time and the lock is fair, so a
subscribe waits at most one poll.  After a reconnect the reader subscribes again to every
channel that has listeners at that moment, under the same lock, so a subscribe or an
unsubscribe that raced with the outage is neither lost nor resurrected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

_LOST = (RedisConnectionError, RedisTimeoutError, OSError, RuntimeError)
"""What a lost connection raises (uvloop: RuntimeError on a closed transport)."""

POLL_S = 0.05
"""How long the reader waits for a message while holding the connection."""


class _PubSub(PubSub):
    """Counts (re)connections: redis-py reconnects by itself inside ``get_message`` when a
    retry succeeds, and the fan-out must know, to resubscribe and catch up."""

    connects = 0

    async def on_connect(self, connection: Any) -> None:
        self.connects += 1
        await super().on_connect(connection)


class Listener(Protocol):
    def on_publish(self, channel: str, data: bytes) -> None: ...


class Fanout:
    def __init__(
        self,
        redis: Redis,
        home_channel: str,
        on_reconnect: Callable[[], Coroutine[None, None, None]],
    ) -> None:
        self._redis = redis
        self._pubsub = _PubSub(redis.connection_pool, ignore_subscribe_messages=False)
        self._connects = 0
        """``_pubsub.connects`` when the reader last (re)subscribed everything."""
        self._home = home_channel
        self._listeners: dict[str, set[Listener]] = {}
        self._confirms: dict[str, asyncio.Future[None]] = {}
        self._on_reconnect = on_reconnect
        self._task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._io = asyncio.Lock()
        self._stale = False
        """A command failed on the connection: the reader starts a fresh one."""

    async def start(self) -> None:
        async with self._io:
            await self._pubsub.subscribe(self._home)
            self._connects = self._pubsub.connects
        self._task = asyncio.create_task(self._run(), name="fanout")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._io:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def subscribe(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners is not None:
            listeners.add(listener)
            confirm = self._confirms.get(channel)
            if confirm is not None:
                await asyncio.shield(confirm)
            return
        self._listeners[channel] = {listener}
        confirm = asyncio.get_running_loop().create_future()
        self._confirms[channel] = confirm
        try:
            async with self._io:
                if self._listeners.get(channel):
                    await self._pubsub.subscribe(channel)
                elif not confirm.done():
                    confirm.set_result(None)  # every listener left meanwhile
            await asyncio.wait_for(asyncio.shield(confirm), timeout=5)
        except (TimeoutError, *_LOST) as exc:
            # the reader re-subscribes every channel after reconnecting; callers catch up
            log.warning("subscription to %s not confirmed yet (%s)", channel, exc)
            if not isinstance(exc, TimeoutError):
                self._stale = True
        finally:
            if self._confirms.get(channel) is confirm:
                del self._confirms[channel]

    async def unsubscribe(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[channel]
            try:
                async with self._io:
                    # subscribed again meanwhile: keep the channel
                    if channel not in self._listeners:
                        await self._pubsub.unsubscribe(channel)
            except _LOST as exc:
                # the reader resubscribes only channels with listeners after reconnecting
                log.info("unsubscribe from %s failed (%s); dropped on reconnect", channel, exc)
                self._stale = True

    def listeners(self, channel: str) -> int:
        return len(self._listeners.get(channel, ()))

    async def _run(self) -> None:
        lost = False
        while True:
            try:
                async with self._io:
                    if self._stale:
                        raise RedisConnectionError("the connection was reset or a command failed")
                    message = await self._pubsub.get_message(timeout=POLL_S)
                    if self._pubsub.connects != self._connects:
                        # reconnected inside redis-py: start afresh like after an error
                        self._stale = True
            except _LOST as exc:
                if not lost:
                    log.warning("pub/sub connection lost: %s", exc)
                lost = True
                self.connected.clear()
                await asyncio.sleep(0.2)
                try:
                    async with self._io:
                        await self._resubscribe()
                        self._stale = False
                        self._connects = self._pubsub.connects
                except _LOST:
                    continue
                continue
            if lost:
                lost = False
                self.connected.set()
                log.info("pub/sub connection restored")
                self._reconnect_task = asyncio.create_task(self._on_reconnect())
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"].decode()
            if kind == "subscribe":
                confirm = self._confirms.get(channel)
                if confirm is not None and not confirm.done():
                    confirm.set_result(None)
                continue
            if kind != "message":
                continue
            for listener in tuple(self._listeners.get(channel, ())):
                try:
                    listener.on_publish(channel, message["data"])
                except Exception:
                    log.exception("listener failed on %s", channel)

    async def _resubscribe(self) -> None:
        """A fresh connection subscribed to every channel with listeners (hold ``_io``)."""
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        channels = [self._home, *self._listeners]
        await self._pubsub.subscribe(*channels)
