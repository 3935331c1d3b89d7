"""A prototype of the small auto-batching layer the issue asks for, on redis-py's pieces.

One connection.  ``execute(*args)`` queues the command and returns a future; the first
command queued in an event-loop iteration schedules a flush with ``call_soon``, so every
command issued in that iteration leaves in ONE write.  Redis answers in order, so one
reader task resolves the futures first-in first-out.  Packing and reply parsing are
redis-py's (with hiredis when installed).

Not production code: no reconnect, no retry, no timeouts, no slot routing (single node).
It exists to measure what batching buys against the pooled client.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from bench.redis_clients.base import LoopBatch


class AutoBatch(LoopBatch):
    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self._conn = Connection(host=host, port=port)
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._reader: asyncio.Task[None] | None = None
        self.writes = 0  # buffers written (one per loop iteration with commands)
        self.commands = 0

    async def connect(self) -> None:
        await self._conn.connect()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def _dispatch(self, queued: list[Any], pending: list[asyncio.Future[Any]]) -> None:
        chunks = self._conn.pack_commands(queued)
        writer = self._conn._writer
        assert writer is not None
        writer.write(b"".join(chunks))
        self.writes += 1
        self.commands += len(queued)
        self._waiting.extend(pending)

    async def _read(self) -> None:
        conn = self._conn
        try:
            while True:
                try:
                    reply: Any = await conn.read_response(disable_decoding=True)
                except ResponseError as e:  # an error reply: raised by redis-py's parser
                    reply = e
                fut = self._waiting.popleft()
                if fut.done():
                    continue
                if isinstance(reply, ResponseError):
                    fut.set_exception(reply)
                else:
                    fut.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # connection lost: fail everything still waiting
            while self._waiting:
                w = self._waiting.popleft()
                if not w.done():
                    w.set_exception(e)

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._conn.disconnect()
