"""Sharded pub/sub on a cluster: the fan-out's subscriptions (``hub/fanout.py``) made with
``SSUBSCRIBE``, each on a pub/sub connection to the master that owns the channel's slot.

**Connections.**  One per master that owns a subscribed channel's slot (``NodeLink``),
opened on the first subscription there (with the node's settings and connect hook) and
closed when its last channel is unsubscribed.  A channel is subscribed alone
(``SSUBSCRIBE`` takes channels of one slot), and its ``ssubscribe`` reply confirms it.

**Topology changes.**  A subscription is lost when
- the master sends ``sunsubscribe`` unasked: its slot migrated away, or the master
  became a replica (a failover);
- the ``SSUBSCRIBE`` was answered with an error (``MOVED``: the slot map was stale);
- the connection dropped (a killed master).

Lost channels still wanted go to a set of homeless channels, and one task
(``_rehome``) reads the slot map again, subscribes each on its slot's master as now
known, and waits for the confirmations; a failure (the old master still in the map
until its replica is promoted, a ``MOVED``) puts the channel back, and the task tries
again after a pause.  When every channel is placed, ``Sink.resynced`` runs: the fan-out
then makes every connection catch up from the chat logs, as after a reconnect on one
server, since messages published between the loss and the new subscription reached
nobody here.

The replies of a connection come in the order the commands were written; ``pending``
remembers what each awaited reply answers (``SSUBSCRIBE c`` or ``SUNSUBSCRIBE c``), so an
error reply is matched to its channel and an ``sunsubscribe`` that matches nothing is
the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Protocol

from redis.asyncio.connection import Connection
from redis.backoff import ExponentialBackoff
from redis.exceptions import MovedError, RedisError

from chatserver.store.cluster.topology import DROPPED, Topology
from chatserver.store.cluster.urls import Address
from chatserver.store.resp import SoonWriter, dedicated, replies

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_S = 5.0
REHOME_BACKOFF_CAP_S = 0.1
"""Short: publishers follow a failover on their own (their next send after the promotion
goes to the new master), and a control message (an offer on an agent's channel) published
before the subscription is placed again reaches nobody here; the chat logs cover chat
messages only.  A try costs one ``CLUSTER SLOTS`` and one connection attempt per dead
master."""
_LOST = (*DROPPED, RuntimeError)
"""What a lost connection raises (uvloop: RuntimeError on a closed transport)."""


class Sink(Protocol):
    """What the fan-out is told (``hub/fanout.py``)."""

    def wants(self, channel: str) -> bool: ...

    def deliver(self, channel: str, data: bytes) -> None: ...

    def confirmed(self, channel: str) -> None: ...

    def released(self, channel: str) -> None: ...

    def interrupted(self) -> None: ...

    def resynced(self) -> None: ...


class NodeLink:
    """One master's pub/sub connection and the channels subscribed (or being subscribed)
    on it."""

    def __init__(self, owner: ShardedSubscriber, address: Address, conn: Connection) -> None:
        self.owner = owner
        self.address = address
        self.conn = conn
        self.channels: set[str] = set()
        self.waiting: dict[str, asyncio.Future[bool]] = {}
        """A subscription's confirmation: True when confirmed, False when refused or lost."""
        self.pending: deque[tuple[bytes, str]] = deque()
        self.leaving: set[str] = set()
        """Unsubscribed, the server's reply not in yet: what it publishes there until then
        is still delivered to the listeners that left (``Sink.released``)."""
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._soon = SoonWriter()
        """(Un)subscriptions, sent together once per turn of the loop."""

    def subscribe(self, channel: str) -> asyncio.Future[bool]:
        self.channels.add(channel)
        future = self.waiting.get(channel)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self.waiting[channel] = future
        self.pending.append((b"ssubscribe", channel))
        # not written (closing): the reader sees the end, and the channel is placed again
        self._soon.write(self.conn, "SSUBSCRIBE", channel)
        return future

    def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self._settle(channel, False)
        self.leaving.add(channel)
        self.pending.append((b"sunsubscribe", channel))
        self._soon.write(self.conn, "SUNSUBSCRIBE", channel)

    def _settle(self, channel: str, ok: bool) -> None:
        future = self.waiting.pop(channel, None)
        if future is not None and not future.done():
            future.set_result(ok)

    async def read(self) -> None:
        try:
            async for batch in replies(self.conn):
                for reply in batch:
                    self._on_reply(reply)
        except _LOST as exc:
            if not self.closed:
                log.warning("pub/sub connection to %s:%s lost: %s", *self.address, exc)
        finally:
            self.closed = True
            self.owner._link_lost(self)
            with contextlib.suppress(Exception):
                await self.conn.disconnect()

    def _on_reply(self, reply: Any) -> None:
        owner = self.owner
        if isinstance(reply, list) and len(reply) >= 3:
            kind, channel = reply[0], reply[1].decode()
            if kind == b"smessage":
                owner.sink.deliver(channel, reply[2])
                return
            head = self.pending[0] if self.pending else None
            if head == (kind, channel):
                self.pending.popleft()
                if kind == b"ssubscribe" and channel in self.channels:
                    self._settle(channel, True)
                    owner.sink.confirmed(channel)
                elif kind == b"sunsubscribe":
                    owner._left(channel, self)
                return
            if kind == b"sunsubscribe":  # unasked: the slot moved, or a failover
                if channel in self.channels:
                    log.info("pub/sub: %s dropped by %s:%s", channel, *self.address)
                    self.channels.discard(channel)
                    self._settle(channel, False)
                    owner._lost(channel, self)
                return
        elif isinstance(reply, RedisError) and self.pending:
            head_kind, channel = self.pending.popleft()
            if head_kind == b"sunsubscribe":
                owner._left(channel, self)
                return
            if isinstance(reply, MovedError):
                owner.topology.moved(reply)
            if channel in self.channels:
                log.info("pub/sub: %s refused on %s:%s: %s", channel, *self.address, reply)
                self.channels.discard(channel)
                self._settle(channel, False)
                owner._lost(channel, self)
            return
        log.warning("unexpected sharded pub/sub reply: %r", reply)

    async def close(self) -> None:
        self.closed = True
        for channel in list(self.waiting):
            self._settle(channel, False)
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.conn.disconnect()


class ShardedSubscriber:
    """The fan-out's transport on a cluster: see the module's docstring.  ``home`` is
    subscribed from ``start`` to ``stop`` (as the single-server fan-out does)."""

    def __init__(self, topology: Topology, home: str, sink: Sink) -> None:
        self.topology = topology
        self.home = home
        self.sink = sink
        self.links: dict[Address, NodeLink] = {}
        self._where: dict[str, NodeLink] = {}
        self._homeless: set[str] = set()
        self._lock = asyncio.Lock()
        self._rehome_task: asyncio.Task[None] | None = None
        self._backoff = ExponentialBackoff(cap=REHOME_BACKOFF_CAP_S, base=0.02)
        self._stopped = False
        self._closing: set[asyncio.Task[None]] = set()
        self._down: set[Address] = set()
        """Masters whose connection failed or dropped since the slot map was last read:
        not tried again before it is (thousands of channels wait on one dead master)."""
        self.connects = 0
        self.rehomes = 0
        """Completed rounds of placing lost subscriptions again (tests)."""

    def channels_at(self, address: Address) -> set[str]:
        link = self.links.get(address)
        return set(link.channels) if link is not None else set()

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.topology.ready()
        async with self._lock:
            future = await self._place(self.home)
        if future is None or not await asyncio.wait_for(future, CONFIRM_TIMEOUT_S):
            raise ConnectionError(f"could not subscribe {self.home} on the cluster")

    async def stop(self) -> None:
        self._stopped = True
        task, self._rehome_task = self._rehome_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        links, self.links = list(self.links.values()), {}
        self._where.clear()
        for link in links:
            await link.close()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task

    # ---- subscriptions --------------------------------------------------------------------
    async def add(self, channel: str) -> bool:
        """Subscribe ``channel`` (its confirmation goes to ``Sink.confirmed``); False when
        nothing was written yet (no master reachable: it is placed once one is)."""
        link = self._where.get(channel)
        if link is not None:  # (the home channel) subscribed already
            if channel not in link.waiting:
                self.sink.confirmed(channel)
            return False
        async with self._lock:
            return await self._place(channel) is not None

    def remove(self, channel: str) -> None:
        if channel == self.home:
            return
        self._homeless.discard(channel)
        link = self._where.pop(channel, None)
        if link is None:
            return
        link.unsubscribe(channel)

    def _left(self, channel: str, link: NodeLink) -> None:
        """The server confirmed an unsubscribe: nothing more comes on ``channel`` there."""
        link.leaving.discard(channel)
        self.sink.released(channel)
        self._release(link)

    def _release(self, link: NodeLink) -> None:
        """Close ``link`` if nothing is left on it."""
        if not link.channels and not link.leaving and self.links.get(link.address) is link:
            del self.links[link.address]
            link.closed = True
            task = asyncio.get_running_loop().create_task(link.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _place(self, channel: str) -> asyncio.Future[bool] | None:
        """Subscribe ``channel`` on its slot's master (the lock held)."""
        if self._stopped or (channel != self.home and not self.sink.wants(channel)):
            return None
        if channel in self._where:
            return None
        address = self.topology.address_of_slot(self.topology.slot_of(channel))
        if address is None or address in self._down:  # wait for the next slot map
            self._homeless.add(channel)
            self._kick()
            return None
        try:
            link = await self._link(address)
        except _LOST as exc:
            log.info("pub/sub: no connection to %s:%s yet: %s", *address, exc)
            self._down.add(address)
            self._homeless.add(channel)
            self._kick()
            return None
        if channel != self.home and not self.sink.wants(channel):
            self._release(link)  # unsubscribed while the connection was made
            return None
        self._where[channel] = link
        return link.subscribe(channel)

    async def _link(self, address: Address) -> NodeLink:
        link = self.links.get(address)
        if link is not None and not link.closed:
            return link
        conn = dedicated(self.topology.pool_of(address))
        await conn.connect()  # type: ignore[no-untyped-call]
        link = NodeLink(self, address, conn)
        self.links[address] = link
        self.connects += 1
        link.task = asyncio.get_running_loop().create_task(
            link.read(), name=f"pubsub {address[0]}:{address[1]}"
        )
        return link

    # ---- losing and placing again ---------------------------------------------------------
    def _lost(self, channel: str, link: NodeLink) -> None:
        if self._where.get(channel) is link:
            del self._where[channel]
        self._release(link)
        if self._stopped or (channel != self.home and not self.sink.wants(channel)):
            return
        self._homeless.add(channel)
        self.sink.interrupted()
        self._kick()

    def _link_lost(self, link: NodeLink) -> None:
        if self.links.get(link.address) is link:
            del self.links[link.address]
            self._down.add(link.address)
        for channel in list(link.leaving):
            link.leaving.discard(channel)
            self.sink.released(channel)
        for channel in list(link.channels):
            link.channels.discard(channel)
            link._settle(channel, False)
            self._lost(channel, link)

    def _kick(self) -> None:
        if self._stopped:
            return
        task = self._rehome_task
        if task is None or task.done():
            self._rehome_task = asyncio.get_running_loop().create_task(
                self._rehome(), name="pubsub rehome"
            )

    async def _rehome(self) -> None:
        attempt = 0
        while True:
            if attempt:
                await asyncio.sleep(self._backoff.compute(attempt))
            attempt += 1
            with contextlib.suppress(*_LOST, TimeoutError):
                await self.topology.refresh()
            self._down.clear()
            async with self._lock:
                batch, self._homeless = self._homeless, set()
                futures = [f for c in batch if (f := await self._place(c)) is not None]
            if futures:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CONFIRM_TIMEOUT_S):
                        await asyncio.gather(*futures)
            if not self._homeless:
                break
        self._rehome_task = None
        if self._stopped:
            return
        self.rehomes += 1
        log.info(
            "pub/sub subscriptions placed again after a topology change: %s",
            ", ".join(f"{a[0]}:{a[1]} {len(link.channels)}" for a, link in self.links.items()),
        )
        self.sink.resynced()
