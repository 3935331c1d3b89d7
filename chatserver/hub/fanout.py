"""Pub/sub fan-out between hub processes.

Channels are subscribed while at least one local listener wants them.  ``subscribe``
returns only once Redis has confirmed the subscription, so a caller that then reads the
chat log cannot miss a message published in between.  After a subscription is lost and
restored (the connection dropped; on a cluster also a slot that moved or a master that
failed over), ``on_reconnect`` runs so that every connection catches up from the log
(pub/sub is a hint; the log is the truth).

**Two transports.**  On one Redis/Valkey server: one pub/sub connection per process with
classic ``SUBSCRIBE`` (``_Single``, below).  On a cluster (``store/cluster``): sharded
pub/sub, ``SSUBSCRIBE`` on one connection per master owning a subscribed channel's slot,
following slot moves and failovers (``store/cluster/pubsub.py``); publishers there use
``SPUBLISH``.  One server keeps classic pub/sub because ``SSUBSCRIBE``/``SPUBLISH`` need
Redis 7 (Redis 6 is supported), and because processes of two versions sharing a server
during a rolling restart must keep hearing each other.

**The single-server transport.**  One reader task owns the socket's reading side: it
feeds whatever arrives into a ``hiredis.Reader`` and dispatches every complete message, so
a burst of publications costs one ``await``.  ``SUBSCRIBE`` and ``UNSUBSCRIBE`` are written
straight to the socket (a write never reads, so no lock is needed, and Redis answers in
the order they were written); the reader resolves a subscription's confirmation when
Redis's ``subscribe`` reply for its channel arrives.  A subscribe therefore waits for one
round trip, never for a poll.

After the connection drops, the reader opens a new one, subscribes every channel that
has listeners at that moment, and once Redis has answered a ``PING`` sent behind those
subscriptions (so every one of them is active) runs ``on_reconnect``.  A subscribe or an
unsubscribe made during the outage changes only the listener table, which is what the
new connection subscribes from: neither is lost nor resurrected.

Counting round trips (a test hook): when ``observer`` is set, it is called, in the
caller's task and context, each time ``subscribe`` writes a ``SUBSCRIBE`` that its caller
will wait for, with the future Redis's confirmation resolves: one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Protocol

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.store import trips
from chatserver.store.cluster import ClusterMux
from chatserver.store.cluster.pubsub import ShardedSubscriber
from chatserver.store.resp import SoonWriter, dedicated, replies, send

log = logging.getLogger(__name__)

_LOST = (RedisConnectionError, RedisTimeoutError, OSError, RuntimeError)
"""What a lost connection raises (uvloop: RuntimeError on a closed transport)."""

RECONNECT_PAUSE_S = 0.2
CONFIRM_TIMEOUT_S = 5.0


class Listener(Protocol):
    def on_publish(self, channel: str, data: bytes) -> None: ...


class Transport(Protocol):
    connects: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def add(self, channel: str) -> bool:
        """Subscribe; True when a subscription was written that the caller may wait for."""
        ...

    def remove(self, channel: str) -> None: ...


class Fanout:
    def __init__(
        self,
        redis: Redis,
        home_channel: str,
        on_reconnect: Callable[[], Coroutine[None, None, None]],
    ) -> None:
        self._listeners: dict[str, set[Listener]] = {}
        self._confirms: dict[str, asyncio.Future[None]] = {}
        self._leaving: dict[str, set[Listener]] = {}
        """Cluster only: listeners of a channel unsubscribed, until the master confirms
        it; they still get what was published there before (see ``unsubscribe``)."""
        self._on_reconnect = on_reconnect
        self._reconnect_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._observer: Callable[[asyncio.Future[None]], None] | None = None
        mux = getattr(redis, "mux", None)
        self.transport: Transport
        if isinstance(mux, ClusterMux):
            self.transport = ShardedSubscriber(mux, home_channel, self)
        else:
            self.transport = _Single(redis.connection_pool, home_channel, self)

    @property
    def connects(self) -> int:
        """Pub/sub connections opened so far."""
        return self.transport.connects

    @property
    def observer(self) -> Callable[[asyncio.Future[None]], None] | None:
        """Shown each ``SUBSCRIBE`` a caller waits for (see the module's docstring);
        tests only."""
        return self._observer

    @observer.setter
    def observer(self, observer: Callable[[asyncio.Future[None]], None] | None) -> None:
        if observer is not None:
            trips.watch()
        self._observer = observer

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.transport.start()
        self.connected.set()

    async def stop(self) -> None:
        task = self._reconnect_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.transport.stop()

    # ---- subscriptions --------------------------------------------------------------------
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
            if await self.transport.add(channel) and self._observer is not None:
                self._observer(confirm)
            # else: a reconnect (or, on a cluster, the placing of lost channels)
            # subscribes it, and its reply confirms
            await asyncio.wait_for(asyncio.shield(confirm), CONFIRM_TIMEOUT_S)
        except TimeoutError:
            # the transport subscribes every wanted channel again; callers catch up
            log.warning("subscription to %s not confirmed yet", channel)
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
            confirm = self._confirms.pop(channel, None)
            if confirm is not None and not confirm.done():
                confirm.set_result(None)  # every listener left meanwhile
            if isinstance(self.transport, ShardedSubscriber):
                # each master's messages arrive on their own connection, in no order
                # with another's: an order received on one channel (``unfollow`` on a
                # visitor's) may overtake what was published before it on another (the
                # chat's ``closed`` frame).  The listener keeps getting that channel
                # until its master confirms the unsubscribe, which comes after all it
                # published before.
                self._leaving.setdefault(channel, set()).add(listener)
            self.transport.remove(channel)

    def listeners(self, channel: str) -> int:
        return len(self._listeners.get(channel, ()))

    # ---- what the transport tells (``Sink``) ----------------------------------------------
    def wants(self, channel: str) -> bool:
        return channel in self._listeners

    def wanted(self) -> list[str]:
        return list(self._listeners)

    def deliver(self, channel: str, data: bytes) -> None:
        targets = self._listeners.get(channel) or self._leaving.get(channel) or ()
        for listener in tuple(targets):
            try:
                listener.on_publish(channel, data)
            except Exception:
                log.exception("listener failed on %s", channel)

    def confirmed(self, channel: str) -> None:
        confirm = self._confirms.get(channel)
        if confirm is not None and not confirm.done():
            confirm.set_result(None)

    def released(self, channel: str) -> None:
        self._leaving.pop(channel, None)

    def interrupted(self) -> None:
        self.connected.clear()

    def resynced(self) -> None:
        """Every subscription is active again after a loss: connections catch up."""
        self.connected.set()
        self._reconnect_task = asyncio.create_task(self._on_reconnect())


class _Single:
    """One server's pub/sub connection: see the module's docstring."""

    def __init__(self, pool: ConnectionPool, home: str, sink: Fanout) -> None:
        self._pool = pool
        self._home = home
        self._sink = sink
        self._conn: Connection | None = None
        self._synced: asyncio.Future[None] | None = None
        """Resolved by the ``PING`` reply behind a connection's first subscriptions."""
        self._task: asyncio.Task[None] | None = None
        self._soon = SoonWriter()
        """(Un)subscriptions, sent together once per turn of the loop."""
        self.connects = 0

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="fanout")
        assert self._synced is not None
        await asyncio.wait_for(asyncio.shield(self._synced), CONFIRM_TIMEOUT_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()

    async def _connect(self) -> None:
        conn = dedicated(self._pool)
        await conn.connect()  # type: ignore[no-untyped-call]
        self._conn = conn
        self.connects += 1
        self._synced = asyncio.get_running_loop().create_future()
        self._write(conn, "SUBSCRIBE", self._home, *self._sink.wanted())
        self._write(conn, "PING")

    @staticmethod
    def _write(conn: Connection, *args: str) -> None:
        # a closed connection is the reader's to notice: it reconnects and subscribes again
        send(conn, hiredis.pack_command(args))  # type: ignore[arg-type]

    async def add(self, channel: str) -> bool:
        if self._conn is None:
            return False  # the reconnect subscribes it
        self._soon.write(self._conn, "SUBSCRIBE", channel)
        return True

    def remove(self, channel: str) -> None:
        if self._conn is not None:
            self._soon.write(self._conn, "UNSUBSCRIBE", channel)

    async def _run(self) -> None:
        while True:
            conn = self._conn
            if conn is None:
                try:
                    await self._connect()
                except _LOST:
                    await asyncio.sleep(RECONNECT_PAUSE_S)
                    continue
                log.info("pub/sub connection restored")
                conn = self._conn
                assert conn is not None and self._synced is not None
                self._synced.add_done_callback(self._caught_up)
            try:
                await self._read(conn)
            except _LOST as exc:
                log.warning("pub/sub connection lost: %s", exc)
            self._sink.interrupted()
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            await asyncio.sleep(RECONNECT_PAUSE_S)

    def _caught_up(self, synced: asyncio.Future[None]) -> None:
        """Every subscription of a new connection is active: connections catch up."""
        if synced.cancelled() or synced.exception() is not None:
            return
        self._sink.resynced()

    async def _read(self, conn: Connection) -> None:
        sink = self._sink
        async for batch in replies(conn):
            for reply in batch:
                if not isinstance(reply, list) or len(reply) < 2:
                    # a PING behind the subscriptions is answered PONG by some servers
                    # (Valkey) and ["pong", ""] by others
                    kind = b"pong" if reply == b"PONG" else None
                    if kind is None:
                        log.warning("unexpected pub/sub reply: %r", reply)
                        continue
                else:
                    kind = reply[0]
                if kind == b"message":
                    sink.deliver(reply[1].decode(), reply[2])
                elif kind == b"subscribe":
                    sink.confirmed(reply[1].decode())
                elif kind == b"pong":
                    synced = self._synced
                    if synced is not None and not synced.done():
                        synced.set_result(None)
