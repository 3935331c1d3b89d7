"""One Redis connection shared by every caller, written once per event-loop iteration.

The product used to borrow a connection from a pool for each command: one ``send``
system call per command, redis-py's per-command checkout and retry wrapper, and, under a
burst, requests waiting for one of a few hundred connections while the process had CPU to
spare (issue 10).  Here every caller shares one connection instead:

- ``run(commands)`` queues a group of commands (one command, a pipeline, or a
  ``MULTI``/``EXEC`` transaction) and waits for its replies.  The first group queued in an
  iteration schedules a flush with ``call_soon``; the flush packs every group queued since
  into one buffer and writes it once.
- Redis answers in order, so one reader task hands each group its replies, first in first
  out.  A group's commands are written back to back, so a pipeline stays contiguous and a
  transaction stays one ``MULTI``..``EXEC``.
- Nothing waits for a connection: the only bound is ``max_inflight`` commands written and
  not yet answered (a paused or unreachable Redis); a group beyond it is refused at once
  with ``Saturated``, which the sessions answer with the retryable ``overloaded`` error.
- When the connection drops, every group in flight fails with ``ConnectionError`` and is
  retried by ``run`` with a capped exponential pause, like the pooled client did; the next
  flush reconnects, running the connection's ``redis_connect_func`` first (the epoch guard
  in ``MessageStore.guard_epoch``).

Blocking commands (``XREADGROUP BLOCK``, ``BLPOP``) would stall every caller, so they keep
a pooled client (``redis_conn.connect_pooled``); so does pub/sub, on its own connection.

Commands are packed and replies parsed by hiredis (in C): the reader feeds whatever the
socket gave into one ``hiredis.Reader`` and hands out every complete reply, so a burst of
replies costs one ``await``, not one per reply.  The connection itself (handshake, AUTH,
SELECT, the connect hook) is redis-py's, and ``MuxRedis`` is a ``redis.asyncio.Redis``:
every command method, response callback and registered script works unchanged.

Counting round trips (a test hook): when ``observer`` is set, every group is shown to it
as it is queued, in the caller's task and context (so the observer can read the user
action being served, ``trips.ACTION``, and the task), with the future its replies will
resolve.  Unset (production), the cost is one attribute test per group.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import hiredis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    BusyLoadingError,
    ExecAbortError,
    RedisError,
    ResponseError,
    WatchError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.store import trips
from chatserver.store.resp import dedicated, replies, send

EMPTY_RESPONSE = "EMPTY_RESPONSE"
NEVER_DECODE = "NEVER_DECODE"
_NOT_FOR_CALLBACKS = frozenset((EMPTY_RESPONSE, NEVER_DECODE, "keys"))

RETRIES = 8
"""Attempts of a group after the first, across a dropped connection (a Redis restart)."""


class Saturated(RedisConnectionError):
    """More commands are waiting for Redis's replies than ``max_inflight`` allows."""


class GroupObserver(Protocol):
    def __call__(self, commands: Sequence[Sequence[Any]], replies: asyncio.Future[Any]) -> None:
        """A group of commands was queued by the running task; ``replies`` resolves
        when Redis has answered it (one round trip)."""


class _Group:
    __slots__ = ("future", "remaining", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.remaining = count
        self.replies: list[Any] = []


class Multiplexer:
    """Groups of commands over one connection; see the module's docstring."""

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        max_inflight: int = 10_000,
        backoff_cap_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self.max_inflight = max_inflight
        self._backoff = ExponentialBackoff(cap=backoff_cap_s, base=0.05)
        # packs commands with the pool's encoder; never connected
        self._packer = dedicated(pool)
        self._conn: Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queued: list[tuple[_Group, list[bytes]]] = []
        self._waiting: collections.deque[_Group] = collections.deque()
        self._flush_scheduled = False
        self._closed = False
        self.inflight = 0
        """Commands queued or written and not yet answered."""
        self.writes = 0
        self.commands = 0
        self.refused = 0
        self.reconnects = 0
        self._observer: GroupObserver | None = None

    @property
    def observer(self) -> GroupObserver | None:
        """Shown every group queued (see the module's docstring); tests only."""
        return self._observer

    @observer.setter
    def observer(self, observer: GroupObserver | None) -> None:
        if observer is not None:
            trips.watch()
        self._observer = observer

    # ---- the callers' side --------------------------------------------------------------
    async def run(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` back to back and return their raw replies in order (an error
        reply is returned as its exception, not raised).  A group every command of which
        was refused with ``LOADING`` (a restarted Redis reading its data) is retried like
        a dropped connection."""
        packed = [self._pack(c) for c in commands]  # bad arguments raise here
        attempt = 0
        while True:
            try:
                replies = await self._submit(packed, len(commands), commands)
                loading = _loading(replies)
                if loading is not None:
                    raise loading
                return replies
            except Saturated:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if attempt >= RETRIES or self._closed:
                    raise
                attempt += 1
                await asyncio.sleep(self._backoff.compute(attempt))

    def _pack(self, args: Sequence[Any]) -> bytes:
        first = args[0]
        if isinstance(first, str) and " " in first:  # "SCRIPT LOAD", as redis-py sends it
            args = (*first.split(), *args[1:])
        try:
            return hiredis.pack_command(tuple(args))  # type: ignore[no-any-return]
        except TypeError:  # a memoryview, or a bad argument: redis-py's rules and errors
            return b"".join(self._packer.pack_command(*args))

    def _submit(
        self, packed: list[bytes], count: int, commands: Sequence[Sequence[Any]] = ()
    ) -> asyncio.Future[list[Any]]:
        if self._closed:
            raise RedisConnectionError("the Redis client is closed")
        # (a group larger than the bound still goes when nothing else waits)
        if self.inflight and self.inflight + count > self.max_inflight:
            self.refused += 1
            raise Saturated(
                f"{self.inflight} Redis commands are waiting for replies "
                f"(REDIS_MAX_INFLIGHT {self.max_inflight})"
            )
        loop = asyncio.get_running_loop()
        group = _Group(loop.create_future(), count)
        if self._observer is not None:
            self._observer(commands, group.future)
        self.inflight += count
        self._queued.append((group, packed))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return group.future

    # ---- the connection's side ----------------------------------------------------------
    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._queued:
            return
        conn = self._conn
        if conn is None or not conn.is_connected or self._reader is None:
            if self._connecting is None and not self._closed:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return  # written once connected
        queued, self._queued = self._queued, []
        buffer: list[bytes] = []
        for group, packed in queued:
            buffer.extend(packed)
            self._waiting.append(group)
            self.commands += group.remaining
        # a connection the server closed a moment ago takes no write: its reader is about
        # to see the end of it and fail these groups, which ``run`` then retries
        if send(conn, b"".join(buffer)):
            self.writes += 1

    async def _connect(self) -> None:
        conn = dedicated(self._pool)
        try:
            await conn.connect()  # type: ignore[no-untyped-call]  # runs the epoch guard first
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await conn.disconnect()
            raise
        except Exception as exc:
            self._connecting = None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            queued, self._queued = self._queued, []
            for group, _ in queued:
                self._fail(group, exc)
            return
        self._conn = conn
        self.reconnects += 1
        self._reader = asyncio.get_running_loop().create_task(self._read(conn))
        self._connecting = None
        self._flush()

    async def _read(self, conn: Connection) -> None:
        waiting = self._waiting
        try:
            async for batch in replies(conn):
                for reply in batch:
                    group = waiting[0]
                    group.replies.append(reply)
                    group.remaining -= 1
                    self.inflight -= 1
                    if group.remaining == 0:
                        waiting.popleft()
                        if not group.future.done():  # a caller may have given up
                            group.future.set_result(group.replies)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._dropped(conn, exc)

    def _dropped(self, conn: Connection, exc: BaseException) -> None:
        """The connection failed: fail what it carried; the next flush reconnects."""
        if self._conn is conn:
            self._conn = None
            self._reader = None
        asyncio.get_running_loop().create_task(_quietly_disconnect(conn))
        error = exc if isinstance(exc, RedisError) else RedisConnectionError(str(exc))
        while self._waiting:
            self._fail(self._waiting.popleft(), error)
        if self._queued and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _fail(self, group: _Group, exc: BaseException) -> None:
        self.inflight -= group.remaining
        group.remaining = 0
        if not group.future.done():
            group.future.set_exception(exc)

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._connecting, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._connecting = self._reader = None
        closed = RedisConnectionError("the Redis client is closed")
        while self._waiting:
            self._fail(self._waiting.popleft(), closed)
        queued, self._queued = self._queued, []
        for group, _ in queued:
            self._fail(group, closed)
        if self._conn is not None:
            await _quietly_disconnect(self._conn)
            self._conn = None


def _loading(replies: Sequence[Any]) -> BusyLoadingError | None:
    """The ``LOADING`` error when Redis, reading its data after a restart, ran none of a
    group: every reply is one, or the group is a transaction whose ``EXEC`` was aborted
    (``MULTI`` and ``PING`` are answered while loading)."""
    loading = next((r for r in replies if isinstance(r, BusyLoadingError)), None)
    if loading is None:
        return None
    if all(isinstance(r, BusyLoadingError) for r in replies):
        return loading
    return loading if isinstance(replies[-1], ExecAbortError) else None


async def _quietly_disconnect(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        await conn.disconnect()


async def _finish(
    callbacks: Mapping[Any, Any], name: Any, reply: Any, options: Mapping[str, Any]
) -> Any:
    """What redis-py's ``parse_response`` makes of a raw reply."""
    if isinstance(reply, RedisError):  # an error reply (``LOADING`` is a ConnectionError)
        if EMPTY_RESPONSE in options:
            return options[EMPTY_RESPONSE]
        raise reply
    callback = callbacks.get(name)
    if callback is None:
        return reply
    kwargs = {k: v for k, v in options.items() if k not in _NOT_FOR_CALLBACKS}
    value = callback(reply, **kwargs)
    return await value if inspect.isawaitable(value) else value


class MuxRedis(Redis):
    """A ``redis.asyncio.Redis`` whose commands and pipelines go through a
    ``Multiplexer``.  ``connection_pool`` stays for pub/sub, which needs a connection of
    its own."""

    def __init__(self, pool: ConnectionPool, *, max_inflight: int = 10_000) -> None:
        super().__init__(connection_pool=pool)
        self.mux = Multiplexer(pool, max_inflight=max_inflight)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        (reply,) = await self.mux.run([args])
        return await _finish(self.response_callbacks, args[0], reply, options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> MuxPipeline:
        return MuxPipeline(self, transaction)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await self.mux.aclose()
        await self.connection_pool.disconnect()


class MuxPipeline(Pipeline):
    """A pipeline (or ``MULTI``/``EXEC`` transaction) sent as one group of a
    ``Multiplexer``.  ``WATCH`` needs a connection of its own and is refused."""

    def __init__(self, client: MuxRedis, transaction: bool) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, transaction, None)
        self._client = client

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        if args and str(args[0]).upper() == "WATCH":
            raise RedisError("WATCH is not supported on the multiplexed client")
        return await self._client.execute_command(*args, **options)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = self.command_stack
        try:
            if not stack:
                return []
            if self.scripts:
                await self.load_scripts()  # type: ignore[no-untyped-call]
            commands = [args for args, _ in stack]
            if self.is_transaction or self.explicit_transaction:
                replies = await self._client.mux.run([("MULTI",), *commands, ("EXEC",)])
                results = _unwrap_exec(replies, stack)
            else:
                results = await self._client.mux.run(commands)
            if raise_on_error:  # redis-py raises only a ResponseError; LOADING is not one
                for i, reply in enumerate(results):
                    if isinstance(reply, RedisError):
                        self.annotate_exception(reply, i + 1, stack[i][0])
                        raise reply
            out: list[Any] = []
            for reply, (args, options) in zip(results, stack, strict=True):
                if isinstance(reply, RedisError):
                    out.append(reply)
                else:
                    out.append(await _finish(self.response_callbacks, args[0], reply, options))
            return out
        finally:
            await self.reset()  # type: ignore[no-untyped-call]


def _unwrap_exec(replies: list[Any], stack: Iterable[Any]) -> list[Any]:
    """The per-command results of ``MULTI``, the commands, ``EXEC``: redis-py's rules (a
    command refused while queueing keeps its error in its place; an aborted ``EXEC``
    raises the first such error)."""
    commands = list(stack)
    errors = [(i, reply) for i, reply in enumerate(replies[1:-1]) if isinstance(reply, RedisError)]
    if isinstance(replies[0], RedisError):
        raise replies[0]
    result = replies[-1]
    if isinstance(result, RedisError):
        if errors:
            raise errors[0][1] from result
        raise result
    if result is None:
        raise WatchError("Watched variable changed.")
    out = list(result)
    for i, error in errors:
        out.insert(i, error)
    if len(out) != len(commands):
        raise ResponseError("Wrong number of response items from pipeline execution")
    return out
