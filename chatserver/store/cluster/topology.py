"""The cluster's masters and who serves which slot: one ``NodeMux`` (shared connection)
per master, the slot map read from ``CLUSTER SLOTS`` and refreshed when it proves stale,
and the connect hook made tolerant of the nodes that do not serve its keys.  ``Topology``
is the base of ``ClusterMux`` (``mux.py``), which routes commands over it, and what the
sharded pub/sub (``pubsub.py``) asks for a channel's master."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import ConnectionPool
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    MovedError,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.store.cluster.urls import Address
from chatserver.store.multiplex import GroupObserver, Multiplexer

SLOTS = 16384
ATTEMPTS = 16
"""Sends of a command after the first, across redirections and a failover."""
BACKOFF_CAP_S = 1.0
REFRESH_TIMEOUT_S = 2.0

PoolFactory = Callable[[str], ConnectionPool]
"""Makes the connection pool of one node from its ``redis://`` URL."""

RETRYABLE_REPLIES = (TryAgainError, ClusterDownError, BusyLoadingError)
DROPPED = (RedisConnectionError, RedisTimeoutError, OSError)


ConnectHook = Callable[[Any], Awaitable[None]]
HOOK = "redis_connect_func"


def tolerant(hook: ConnectHook) -> ConnectHook:
    """``hook``, but a ``MOVED``/``ASK`` answer (this node does not serve the hook's keys)
    ends it quietly: the connection is set up, the reply read."""

    async def on_connect(conn: Any) -> None:
        with contextlib.suppress(AskError):  # MovedError is an AskError
            await hook(conn)

    return on_connect


class HookOptions(dict[str, Any]):
    """A pool's connection options whose connect hook, when set, is made ``_tolerant``."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key == HOOK and value is not None:
            value = tolerant(value)
        super().__setitem__(key, value)


class NodeMux(Multiplexer):
    """One master's shared connection.  ``send`` makes one attempt: the cluster client
    decides whether and where to resend (a killed master's slots move to its replica)."""

    async def send(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        packed = [self._pack(c) for c in commands]
        return await self._submit(packed, len(commands), commands)


class KeySpec:
    __slots__ = ("first", "last", "movable", "step", "subcommands")

    def __init__(self, entry: Sequence[Any]) -> None:
        flags = {text(f) for f in entry[2]}
        self.first = int(entry[3])
        self.last = int(entry[4])
        self.step = int(entry[5])
        self.movable = "movablekeys" in flags
        self.subcommands: dict[str, KeySpec] = {}
        if len(entry) > 9 and entry[9]:
            for sub in entry[9]:
                self.subcommands[text(sub[0]).lower()] = KeySpec(sub)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Topology(Multiplexer):
    """The masters' ``NodeMux``es and the slot map; ``ClusterMux`` routes over them.
    Counters (``inflight``, ``commands`` ...) are the masters' totals."""

    def __init__(
        self,
        seeds: Sequence[Address],
        node_url: Callable[[str, int], str],
        pool_for: PoolFactory,
        seed_pool: ConnectionPool,
        *,
        max_inflight: int = 10_000,
    ) -> None:
        self._nodes: dict[Address, NodeMux] = {}
        self._observer_all: GroupObserver | None = None
        super().__init__(seed_pool, max_inflight=max_inflight)
        self._seeds = list(seeds)
        self._node_url = node_url
        self._pool_for = pool_for
        self._seed_options = seed_pool.connection_kwargs
        self._encoder = seed_pool.get_encoder()  # type: ignore[no-untyped-call]
        self._slots: list[Address | None] = [None] * SLOTS
        self._masters: list[Address] = []
        self._specs: dict[str, KeySpec] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._retry_backoff = ExponentialBackoff(cap=BACKOFF_CAP_S, base=0.05)
        self.refreshes = 0
        self.redirections = 0

    # ---- counters: the masters' totals (the base class's own are never used) ------------
    def _total(self, name: str) -> int:
        return sum(int(getattr(n, name)) for n in self._nodes.values())

    @property
    def inflight(self) -> int:
        return self._total("inflight")

    @inflight.setter
    def inflight(self, value: int) -> None:
        pass

    @property
    def commands(self) -> int:
        return self._total("commands")

    @commands.setter
    def commands(self, value: int) -> None:
        pass

    @property
    def writes(self) -> int:
        return self._total("writes")

    @writes.setter
    def writes(self, value: int) -> None:
        pass

    @property
    def refused(self) -> int:
        return self._total("refused")

    @refused.setter
    def refused(self, value: int) -> None:
        pass

    @property
    def reconnects(self) -> int:
        return self._total("reconnects")

    @reconnects.setter
    def reconnects(self, value: int) -> None:
        pass

    @property
    def observer(self) -> GroupObserver | None:
        return self._observer_all

    @observer.setter
    def observer(self, observer: GroupObserver | None) -> None:
        self._observer_all = observer
        for node in self._nodes.values():
            node.observer = observer

    # ---- nodes and the slot map ---------------------------------------------------------
    @property
    def masters(self) -> list[Address]:
        """The masters serving slots, as of the last refresh."""
        return list(self._masters)

    def slot_of(self, name: str | bytes) -> int:
        """The slot of a key or a channel name."""
        return int(key_slot(bytes(self._encoder.encode(name))))

    def pool_of(self, address: Address) -> ConnectionPool:
        """The connection pool of a master (its settings and connect hook): the sharded
        pub/sub opens its own connection to it from there."""
        return self._node(address)._pool

    async def ready(self) -> None:
        """The slot map is known (read now if not yet)."""
        await self._ready()

    def moved(self, error: MovedError) -> None:
        """A ``MOVED`` reply seen elsewhere (a pub/sub connection): the slot is updated,
        the map read again in the background."""
        self._moved(error)

    def address_of_slot(self, slot: int) -> Address | None:
        return self._slots[slot]

    def master_of(self, name: str | bytes) -> NodeMux:
        """The shared connection to the master serving ``name``'s slot (a key or a
        channel), as of the last refresh: for a command that must go on the connection
        that carried earlier writes there (``WAIT``)."""
        address = self._slots[self.slot_of(name)]
        if address is None:
            raise RedisConnectionError(f"no master serves the slot of {name!r}")
        return self._node(address)

    def _node(self, address: Address) -> NodeMux:
        node = self._nodes.get(address)
        if node is None:
            if self._closed:
                raise RedisConnectionError("the Redis client is closed")
            pool = self._pool_for(self._node_url(*address))
            pool.connection_kwargs[HOOK] = self._on_connect
            node = NodeMux(pool, max_inflight=self.max_inflight)
            node.observer = self._observer_all
            self._nodes[address] = node
        return node

    async def _on_connect(self, conn: Any) -> None:
        """A master's new connection: the seed options' hook, read now (it is set after
        the client is made), else redis-py's handshake."""
        hook = self._seed_options.get(HOOK)
        if hook is None:
            await conn.on_connect()
        else:
            await hook(conn)

    async def refresh(self) -> None:
        """Read the slot map again (one refresh at a time; callers share it)."""
        await asyncio.shield(self._start_refresh())

    def _refresh_soon(self) -> None:
        self._start_refresh()

    def _start_refresh(self) -> asyncio.Task[None]:
        task = self._refreshing
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._refresh())
            self._refreshing = task
            self._background.add(task)
            task.add_done_callback(self._background_done)
        return task

    async def _ready(self) -> None:
        """The slot map and the command table, read once (waiting, bounded, for a
        cluster that cannot answer yet)."""
        last: BaseException | None = None
        for attempt in range(ATTEMPTS + 1):
            if self._masters:
                return
            if attempt:
                await self._pause(attempt)
            try:
                await self.refresh()
            except DROPPED as exc:
                last = exc
        if last is not None:
            raise last

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed background refresh is retried later

    async def _refresh(self) -> None:
        ordered = list(dict.fromkeys([*self._masters, *self._seeds]))
        errors: list[str] = []
        for address in ordered:
            try:
                node = self._node(address)
                queries: list[tuple[Any, ...]] = [("CLUSTER", "SLOTS")]
                if not self._specs:
                    queries.append(("COMMAND",))
                async with asyncio.timeout(REFRESH_TIMEOUT_S):
                    replies = await node.send(queries)
            except (*DROPPED, TimeoutError) as exc:
                errors.append(f"{address[0]}:{address[1]}: {exc!r}")
                continue
            if isinstance(replies[0], RedisError):
                errors.append(f"{address[0]}:{address[1]}: {replies[0]!r}")
                continue
            self._apply_slots(replies[0], address)
            if len(replies) > 1 and not isinstance(replies[1], RedisError):
                self._specs = {text(entry[0]).lower(): KeySpec(entry) for entry in replies[1]}
            self.refreshes += 1
            return
        raise RedisConnectionError("no cluster node gave its slot map: " + "; ".join(errors))

    def _apply_slots(self, reply: Sequence[Any], asked: Address) -> None:
        slots: list[Address | None] = [None] * SLOTS
        masters: list[Address] = []
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = text(master[0]) or asked[0]  # an empty host: the node asked
            address = (host, int(master[1]))
            if address not in masters:
                masters.append(address)
            slots[start : end + 1] = [address] * (end - start + 1)
        self._slots = slots
        self._masters = masters

    async def _address(self, slot: int | None) -> Address:
        if not self._masters:
            await self.refresh()
        if slot is None:
            return self._masters[0]
        address = self._slots[slot]
        if address is None:
            raise ClusterDownError(f"CLUSTERDOWN no master serves slot {slot}")
        return address

    async def _pause(self, attempt: int) -> None:
        await asyncio.sleep(self._retry_backoff.compute(attempt) * (0.5 + random.random() / 2))

    def _moved(self, error: MovedError) -> None:
        self.redirections += 1
        self._slots[error.slot_id] = (error.host, error.port)
        self._refresh_soon()

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(*DROPPED, TimeoutError):
            await self.refresh()

    async def aclose(self) -> None:
        self._closed = True
        tasks = [*self._background]
        if self._refreshing is not None:
            tasks.append(self._refreshing)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._refreshing = None
        for node in list(self._nodes.values()):
            await node.aclose()
            await node._pool.disconnect()
        await super().aclose()
