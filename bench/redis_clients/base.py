"""The surface every client adapter offers (see ``clients.py``)."""

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
    _reader: asyncio.Task[None] | None  # the subscriber's reader task, set by open()

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

    async def _stop_reader(self) -> None:
        """Cancel the subscriber's reader task (``self._reader``), if any, and wait for it."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader


class PubSubChannels:
    """``subscribe`` / ``unsubscribe`` on a client's pub/sub object ``self._ps`` (redis-py's
    and coredis's take the channels as arguments alike)."""

    _ps: Any

    async def subscribe(self, channels: list[str]) -> None:
        await self._ps.subscribe(*channels)

    async def unsubscribe(self, channels: list[str]) -> None:
        await self._ps.unsubscribe(*channels)




class LoopBatch:
    """The collecting half of an auto-batching layer: ``execute(*args)`` queues a command and
    returns its future; the first command queued in an event-loop iteration schedules a
    flush with ``call_soon``, which hands every command of that iteration (and their
    futures, in order) to ``_dispatch`` at once."""

    def __init__(self) -> None:
        self._queued: list[Any] = []
        self._pending: list[asyncio.Future[Any]] = []
        self._scheduled = False

    def _command(self, args: tuple[Any, ...]) -> Any:
        """The queued form of a command's arguments."""
        return args

    def _dispatch(self, queued: list[Any], pending: list[asyncio.Future[Any]]) -> None:
        raise NotImplementedError

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queued.append(self._command(args))
        self._pending.append(fut)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        queued, self._queued = self._queued, []
        pending, self._pending = self._pending, []
        if not queued:
            return
        self._dispatch(queued, pending)
