"""Pub/sub fan-out between hub processes.

One pub/sub connection per process.  Channels are subscribed while at least one local
listener wants them.  ``subscribe`` returns only once Redis has confirmed the subscription,
so a caller that then reads the chat log cannot miss a message published in between.
After the pub/sub connection is lost and restored, ``on_reconnect`` runs so that every
connection catches up from the log (pub/sub is a hint; the log is the truth).

One reader task owns the socket's reading side: it feeds whatever arrives into a
``hiredis.Reader`` and dispatches every complete message, so a burst of publications costs
one ``await``.  ``SUBSCRIBE`` and ``UNSUBSCRIBE`` are written straight to the socket (a
write never reads, so no lock is needed, and Redis answers in the order they were
written); the reader resolves a subscription's confirmation when Redis's ``subscribe``
reply for its channel arrives.  A subscribe therefore waits for one round trip, never for
a poll.

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
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.store import trips
from chatserver.store.resp import dedicated, replies, send

log = logging.getLogger(__name__)

_LOST = (RedisConnectionError, RedisTimeoutError, OSError, RuntimeError)
"""What a lost connection raises (uvloop: RuntimeError on a closed transport)."""

RECONNECT_PAUSE_S = 0.2
CONFIRM_TIMEOUT_S = 5.0


class Listener(Protocol):
    def on_publish(self, channel: str, data: bytes) -> None: ...


class Fanout:
    def __init__(
        self,
        redis: Redis,
        home_channel: str,
        on_reconnect: Callable[[], Coroutine[None, None, None]],
    ) -> None:
        self._pool = redis.connection_pool
        self._home = home_channel
        self._listeners: dict[str, set[Listener]] = {}
        self._confirms: dict[str, asyncio.Future[None]] = {}
        self._on_reconnect = on_reconnect
        self._conn: Connection | None = None
        self._synced: asyncio.Future[None] | None = None
        """Resolved by the ``PING`` reply behind a connection's first subscriptions."""
        self._task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self._observer: Callable[[asyncio.Future[None]], None] | None = None

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
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="fanout")
        assert self._synced is not None
        await asyncio.wait_for(asyncio.shield(self._synced), CONFIRM_TIMEOUT_S)

    async def stop(self) -> None:
        for task in (self._task, self._reconnect_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
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
        self._write(conn, "SUBSCRIBE", self._home, *self._listeners)
        self._write(conn, "PING")

    @staticmethod
    def _write(conn: Connection, *args: str) -> None:
        # a closed connection is the reader's to notice: it reconnects and subscribes again
        send(conn, hiredis.pack_command(args))  # type: ignore[arg-type]

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
            if self._conn is not None:
                self._write(self._conn, "SUBSCRIBE", channel)
                if self._observer is not None:
                    self._observer(confirm)
            # else: the reconnect subscribes it, and its reply confirms
            await asyncio.wait_for(asyncio.shield(confirm), CONFIRM_TIMEOUT_S)
        except TimeoutError:
            # the reader re-subscribes every channel after reconnecting; callers catch up
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
            if self._conn is not None:
                self._write(self._conn, "UNSUBSCRIBE", channel)

    def listeners(self, channel: str) -> int:
        return len(self._listeners.get(channel, ()))

    # ---- the reader -----------------------------------------------------------------------
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
            else:
                self.connected.set()
            try:
                await self._read(conn)
            except _LOST as exc:
                log.warning("pub/sub connection lost: %s", exc)
            self.connected.clear()
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            await asyncio.sleep(RECONNECT_PAUSE_S)

    def _caught_up(self, synced: asyncio.Future[None]) -> None:
        """Every subscription of a new connection is active: connections catch up."""
        if synced.cancelled() or synced.exception() is not None:
            return
        self.connected.set()
        self._reconnect_task = asyncio.create_task(self._on_reconnect())

    async def _read(self, conn: Connection) -> None:
        listeners = self._listeners
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
                    channel = reply[1].decode()
                    for listener in tuple(listeners.get(channel, ())):
                        try:
                            listener.on_publish(channel, reply[2])
                        except Exception:
                            log.exception("listener failed on %s", channel)
                elif kind == b"subscribe":
                    confirm = self._confirms.get(reply[1].decode())
                    if confirm is not None and not confirm.done():
                        confirm.set_result(None)
                elif kind == b"pong":
                    synced = self._synced
                    if synced is not None and not synced.done():
                        synced.set_result(None)
