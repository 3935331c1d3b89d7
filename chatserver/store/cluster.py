"""The multiplexed client on a Redis/Valkey Cluster: each group of commands goes to the
master serving its keys' slot, over that master's one shared connection.

**Choosing it.**  ``REDIS_URL=redis+cluster://host:port,host:port/`` (``rediss+cluster://``
for TLS; ``user:password@`` before the first host, query options after the path, as in a
``redis://`` URL): every ``host:port`` is a seed, any one reachable is enough.
``redis_conn.connect`` returns this client for such a URL and the plain ``MuxRedis`` for
any other, unchanged.

**What the rest of the product sees.**  A ``MuxRedis`` (``store/multiplex.py``): command
methods, pipelines, ``MULTI``/``EXEC`` transactions, ``Scripts.call`` (``EVALSHA`` with
every key in KEYS, ``SCRIPT LOAD`` on ``NOSCRIPT``).  Only its ``mux`` differs: a
``ClusterMux``, which keeps one ``Multiplexer`` per master and routes each group:

- a command goes to the master of its keys' slot (keys found from ``COMMAND``, read once
  from the cluster; ``EVAL``/``EVALSHA``/``FCALL`` by their ``numkeys``, ``XREAD`` after
  ``STREAMS``, other movable-key commands by ``COMMAND GETKEYS``); a keyless command to
  any master;
- a transaction goes whole to the master of its one slot (keys in two slots are refused
  with ``CrossSlotTransactionError``: one action, one slot);
- a pipeline (no transaction) is split by master, the parts sent at once, the replies put
  back in order;
- ``SCRIPT LOAD``/``SCRIPT FLUSH``/``FLUSHALL``/``FLUSHDB`` go to every master (a script
  is then on whichever master later runs it).

**Topology changes.**  The slot map comes from ``CLUSTER SLOTS`` (asked of known masters,
then of the seeds).  A ``MOVED`` reply updates the slot at once, refreshes the map in the
background and resends the command to the new master; ``ASK`` resends it once to the
importing node after ``ASKING`` (a transaction, instead, waits for the migration to end:
``ASKING`` would not cover its queued commands); ``TRYAGAIN``, ``CLUSTERDOWN``,
``LOADING`` and a dropped or refused connection (a killed master) wait, refresh the map
and resend.  A command is resent at most ``ATTEMPTS`` times, with jittered pauses capped
at ``BACKOFF_CAP_S`` (7 to 14 s in all), then its error is raised: that bounds how long
a failover may take before callers see errors (Valkey's ``cluster-node-timeout``, 15 s
by default, plus the election; lower it where that matters).  Only commands that got a
redirection are resent, so a pipeline's other writes never run twice; a transaction is
resent whole only when ``EXEC`` was aborted.  As on one server, a command whose connection dropped
before its reply is resent (it may have run).

**The connect hook** (``redis_connect_func``, the epoch guard of
``MessageStore.guard_epoch``, set on ``connection_pool``'s options) runs on every new
connection: each master's and the pub/sub one.  Its script touches keys of one slot, so
on every other node it is answered ``MOVED``: that answer is ignored there (the hook
does its work on the connections to the master of its slot, whichever that is after a
failover).

Not covered here: ``WATCH`` (refused, as on ``MuxRedis``), pub/sub (``connection_pool``
is the first seed's, for the fan-out's own connection), and reads from replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterDownError,
    CrossSlotTransactionError,
    ExecAbortError,
    MovedError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.store.multiplex import GroupObserver, Multiplexer, MuxRedis, Saturated

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SLOTS = 16384
ATTEMPTS = 16
"""Sends of a command after the first, across redirections and a failover."""
BACKOFF_CAP_S = 1.0
REFRESH_TIMEOUT_S = 2.0

Address = tuple[str, int]
PoolFactory = Callable[[str], ConnectionPool]
"""Makes the connection pool of one node from its ``redis://`` URL."""

_BROADCAST = frozenset({"SCRIPT LOAD", "SCRIPT FLUSH", "FLUSHALL", "FLUSHDB"})
_NUMKEYS_AT_2 = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
_RETRYABLE_REPLIES = (TryAgainError, ClusterDownError, BusyLoadingError)
_DROPPED = (RedisConnectionError, RedisTimeoutError, OSError)


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def parse_cluster_url(url: str) -> tuple[list[Address], Callable[[str, int], str]]:
    """The seeds of a ``redis+cluster://`` URL, and how to make one node's ``redis://`` URL
    (same credentials, database and options)."""
    parts = urlsplit(url)
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"not a cluster URL: {url!r} (expected redis+cluster://host:port,...)")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    seeds: list[Address] = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = item.strip(), "6379"
        host = host.strip("[]")
        if not host:
            raise ValueError(f"a seed without a host in {url!r}")
        seeds.append((host, int(port)))
    if not seeds:
        raise ValueError(f"no seed node in {url!r}")
    prefix = f"{userinfo}@" if userinfo else ""

    def node_url(host: str, port: int) -> str:
        shown = f"[{host}]" if ":" in host else host
        netloc = f"{prefix}{shown}:{port}"
        return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))

    return seeds, node_url


ConnectHook = Callable[[Any], Awaitable[None]]
HOOK = "redis_connect_func"


def _tolerant(hook: ConnectHook) -> ConnectHook:
    """``hook``, but a ``MOVED``/``ASK`` answer (this node does not serve the hook's keys)
    ends it quietly: the connection is set up, the reply read."""

    async def on_connect(conn: Any) -> None:
        with contextlib.suppress(AskError):  # MovedError is an AskError
            await hook(conn)

    return on_connect


class _HookOptions(dict[str, Any]):
    """A pool's connection options whose connect hook, when set, is made ``_tolerant``."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key == HOOK and value is not None:
            value = _tolerant(value)
        super().__setitem__(key, value)


class NodeMux(Multiplexer):
    """One master's shared connection.  ``send`` makes one attempt: the cluster client
    decides whether and where to resend (a killed master's slots move to its replica)."""

    async def send(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        packed = [self._pack(c) for c in commands]
        return await self._submit(packed, len(commands), commands)


class _KeySpec:
    __slots__ = ("first", "last", "movable", "step", "subcommands")

    def __init__(self, entry: Sequence[Any]) -> None:
        flags = {_text(f) for f in entry[2]}
        self.first = int(entry[3])
        self.last = int(entry[4])
        self.step = int(entry[5])
        self.movable = "movablekeys" in flags
        self.subcommands: dict[str, _KeySpec] = {}
        if len(entry) > 9 and entry[9]:
            for sub in entry[9]:
                self.subcommands[_text(sub[0]).lower()] = _KeySpec(sub)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ClusterMux(Multiplexer):
    """Routes every group of ``MuxRedis`` to the ``NodeMux`` of the master serving it; see
    the module's docstring.  Counters (``inflight``, ``commands`` ...) are the masters'
    totals."""

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
        self._specs: dict[str, _KeySpec] = {}
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

    def address_of_slot(self, slot: int) -> Address | None:
        return self._slots[slot]

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
            except _DROPPED as exc:
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
            except (*_DROPPED, TimeoutError) as exc:
                errors.append(f"{address[0]}:{address[1]}: {exc!r}")
                continue
            if isinstance(replies[0], RedisError):
                errors.append(f"{address[0]}:{address[1]}: {replies[0]!r}")
                continue
            self._apply_slots(replies[0], address)
            if len(replies) > 1 and not isinstance(replies[1], RedisError):
                self._specs = {_text(entry[0]).lower(): _KeySpec(entry) for entry in replies[1]}
            self.refreshes += 1
            return
        raise RedisConnectionError("no cluster node gave its slot map: " + "; ".join(errors))

    def _apply_slots(self, reply: Sequence[Any], asked: Address) -> None:
        slots: list[Address | None] = [None] * SLOTS
        masters: list[Address] = []
        for entry in reply:
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = _text(master[0]) or asked[0]  # an empty host: the node asked
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

    # ---- keys ---------------------------------------------------------------------------
    def _name(self, args: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        first = args[0]
        name = _text(first)
        if " " in name:  # "SCRIPT LOAD", as redis-py sends it
            words = name.split()
            return words[0].lower(), (*words, *args[1:])
        return name.lower(), args

    async def _slot(self, args: Sequence[Any]) -> int | None:
        """The slot of a command's (first) key; ``None`` for a keyless command.  A
        command with keys in two slots goes to the first one's master, which refuses it
        with ``CROSSSLOT``."""
        name, args = self._name(args)
        keys: Sequence[Any]
        if name in _NUMKEYS_AT_2:
            keys = args[3 : 3 + int(args[2])] if len(args) > 2 else ()
        elif name in ("xread", "xreadgroup"):
            upper = [_text(a).upper() if isinstance(a, (str, bytes)) else "" for a in args]
            if "STREAMS" not in upper:
                return None
            streams = args[upper.index("STREAMS") + 1 :]
            keys = streams[: len(streams) // 2]
        else:
            if not self._specs:
                await self.refresh()
            spec = self._specs.get(name)
            if spec is None:
                return None  # unknown here: the server will say so
            if spec.first == 0 and spec.subcommands and len(args) > 1:
                spec = spec.subcommands.get(f"{name}|{_text(args[1]).lower()}", spec)
            if spec.movable:
                keys = await self._getkeys(args)
            elif spec.first <= 0:
                return None
            else:
                last = spec.last if spec.last >= 0 else len(args) + spec.last
                keys = args[spec.first : last + 1 : max(spec.step, 1)]
        if not keys:
            return None
        return int(key_slot(bytes(self._encoder.encode(keys[0]))))

    async def _getkeys(self, args: Sequence[Any]) -> Sequence[Any]:
        address = await self._address(None)
        (reply,) = await self._node(address).send([("COMMAND", "GETKEYS", *args)])
        if isinstance(reply, ResponseError):
            return ()
        if isinstance(reply, RedisError):
            raise reply
        return list(reply)

    # ---- running groups -----------------------------------------------------------------
    async def run(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        if self._closed:
            raise RedisConnectionError("the Redis client is closed")
        for args in commands:
            self._pack(args)  # bad arguments raise here, before anything is sent
        if len(commands) >= 2 and _is(commands[0], "MULTI") and _is(commands[-1], "EXEC"):
            return await self._transaction(commands)
        if len(commands) == 1 and _broadcast(commands[0]):
            return await self._everywhere(commands[0])
        return await self._pipeline(commands)

    async def _pause(self, attempt: int) -> None:
        await asyncio.sleep(self._retry_backoff.compute(attempt) * (0.5 + random.random() / 2))

    async def _pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self._ready()
        slots = [await self._slot(c) for c in commands]
        results: list[Any] = [None] * len(commands)
        pending = list(range(len(commands)))
        asking: dict[int, Address] = {}
        last: BaseException | None = None
        wait = False
        for attempt in range(ATTEMPTS + 1):
            if wait:
                await self._pause(attempt)
            wait = True
            by_node: dict[Address, list[int]] = {}
            try:
                for i in pending:
                    address = asking.get(i) or await self._address(slots[i])
                    by_node.setdefault(address, []).append(i)
            except _DROPPED as exc:  # no node gave a slot map
                last = exc
                continue
            except ClusterDownError as exc:
                last = exc
                await self._refresh_quietly()
                continue
            parts = list(by_node.items())
            outcomes = await asyncio.gather(
                *(self._send_part(address, idxs, commands, asking) for address, idxs in parts),
                return_exceptions=True,
            )
            retry: list[int] = []
            stale = False
            wait = False  # a redirection is followed at once
            for (_address, idxs), outcome in zip(parts, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, Saturated) or not isinstance(outcome, _DROPPED):
                        raise outcome
                    last = outcome
                    retry.extend(idxs)
                    stale = wait = True
                    continue
                for i, reply in zip(idxs, outcome, strict=True):
                    asking.pop(i, None)
                    if isinstance(reply, MovedError):
                        self._moved(reply)
                        retry.append(i)
                        last = reply
                    elif isinstance(reply, AskError):
                        asking[i] = (reply.host, reply.port)
                        self.redirections += 1
                        retry.append(i)
                        last = reply
                    elif isinstance(reply, _RETRYABLE_REPLIES):
                        stale = stale or isinstance(reply, ClusterDownError)
                        wait = True
                        retry.append(i)
                        last = reply
                    else:
                        results[i] = reply
            if not retry:
                return results
            pending = sorted(retry)
            if stale:
                await self._refresh_quietly()
        return self._give_up(results, pending, last)

    def _give_up(
        self, results: list[Any], pending: list[int], last: BaseException | None
    ) -> list[Any]:
        if isinstance(last, RedisError) and not isinstance(last, _DROPPED):
            for i in pending:  # the redirection or refusal is each command's reply
                results[i] = last
            return results
        raise last if last is not None else RedisConnectionError("cluster unreachable")

    async def _send_part(
        self,
        address: Address,
        idxs: Sequence[int],
        commands: Sequence[Sequence[Any]],
        asking: dict[int, Address],
    ) -> list[Any]:
        node = self._node(address)
        asked = [i for i in idxs if i in asking]
        if not asked:
            return await node.send([commands[i] for i in idxs])
        group: list[Sequence[Any]] = []
        for i in idxs:
            if i in asking:
                group.append(("ASKING",))
            group.append(commands[i])
        replies = await node.send(group)
        out: list[Any] = []
        j = 0
        for i in idxs:
            if i in asking:
                j += 1  # the ASKING's +OK
            out.append(replies[j])
            j += 1
        return out

    async def _transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self._ready()
        inner = commands[1:-1]
        slots = {s for s in [await self._slot(c) for c in inner] if s is not None}
        if len(slots) > 1:
            raise CrossSlotTransactionError(
                f"a transaction's keys are in {len(slots)} slots; on a cluster they must "
                "share one (a hash tag)"
            )
        slot = next(iter(slots), None)
        last: BaseException | None = None
        for attempt in range(ATTEMPTS + 1):
            if attempt:
                await self._pause(attempt)
            try:
                address = await self._address(slot)
                replies = await self._node(address).send(commands)
            except Saturated:
                raise
            except ClusterDownError as exc:
                last = exc
                await self._refresh_quietly()
                continue
            except _DROPPED as exc:
                last = exc
                await self._refresh_quietly()
                continue
            if not isinstance(replies[-1], ExecAbortError) and not (
                isinstance(replies[-1], RedisError) and _redirected(replies)
            ):
                return replies
            moved = next((r for r in replies if isinstance(r, MovedError)), None)
            if moved is not None:
                self._moved(moved)
            elif any(isinstance(r, ClusterDownError) for r in replies):
                await self._refresh_quietly()
            elif not _redirected(replies):
                return replies  # aborted for another reason: the caller's error
            last = next(r for r in replies if isinstance(r, RedisError))
        if last is not None:
            raise last
        raise RedisConnectionError("cluster unreachable")

    async def _everywhere(self, args: Sequence[Any]) -> list[Any]:
        """One command on every master (``SCRIPT LOAD`` ...): the first error reply, else
        the first master's reply.  A master that cannot be reached (killed, its replica
        not yet promoted) makes the map be read again and the command sent again."""
        await self._ready()
        last: BaseException | None = None
        for attempt in range(ATTEMPTS + 1):
            if attempt:
                await self._pause(attempt)
            try:
                if not self._masters:
                    await self.refresh()
                addresses = list(self._masters)
            except _DROPPED as exc:
                last = exc
                continue
            outcomes = await asyncio.gather(
                *(self._node(a).send([args]) for a in addresses), return_exceptions=True
            )
            replies: list[list[Any]] = []
            for outcome in outcomes:
                if isinstance(outcome, Saturated) or (
                    isinstance(outcome, BaseException) and not isinstance(outcome, _DROPPED)
                ):
                    raise outcome
                if isinstance(outcome, BaseException):
                    last = outcome
                else:
                    replies.append(outcome)
            if len(replies) < len(addresses):
                await self._refresh_quietly()
                continue
            return next((r for r in replies if isinstance(r[0], RedisError)), replies[0])
        assert last is not None
        raise last

    def _moved(self, error: MovedError) -> None:
        self.redirections += 1
        self._slots[error.slot_id] = (error.host, error.port)
        self._refresh_soon()

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(*_DROPPED, TimeoutError):
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


def _is(args: Sequence[Any], name: str) -> bool:
    return len(args) == 1 and _text(args[0]).upper() == name


def _broadcast(args: Sequence[Any]) -> bool:
    name = _text(args[0]).upper()
    if " " not in name and len(args) > 1 and name == "SCRIPT":
        name = f"SCRIPT {_text(args[1]).upper()}"
    return name in _BROADCAST


def _redirected(replies: Sequence[Any]) -> bool:
    return any(isinstance(r, (AskError, *_RETRYABLE_REPLIES)) for r in replies)


class ClusterRedis(MuxRedis):
    """A ``MuxRedis`` on a cluster: see the module's docstring.  ``connection_pool`` is
    the first seed's (pub/sub only)."""

    def __init__(
        self,
        url: str,
        pool_for: PoolFactory,
        *,
        max_inflight: int = 10_000,
    ) -> None:
        seeds, node_url = parse_cluster_url(url)
        seed_pool = pool_for(node_url(*seeds[0]))
        seed_pool.connection_kwargs = _HookOptions(seed_pool.connection_kwargs)
        Redis.__init__(self, connection_pool=seed_pool)
        self.mux: ClusterMux = ClusterMux(
            seeds, node_url, pool_for, seed_pool, max_inflight=max_inflight
        )


def pooled_cluster(url: str, *, max_connections: int) -> RedisCluster:
    """redis-py's pooled cluster client (``max_connections`` per node), for the blocking
    commands ``connect_pooled`` serves (the records writer's ``XREADGROUP BLOCK``): the
    same seeds, credentials and TLS as the multiplexed client."""
    seeds, node_url = parse_cluster_url(url)
    options = parse_url(node_url(*seeds[0]))
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        username=options.get("username"),
        password=options.get("password"),
        ssl=url.lower().startswith("rediss+"),
        max_connections=max_connections,
        socket_connect_timeout=2,
        socket_keepalive=True,
    )
