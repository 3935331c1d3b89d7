"""The auto-batching layer again, this time on valkey-glide: every command issued in one
event-loop iteration goes into ONE non-atomic glide ``Batch`` (``ClusterBatch`` on a
cluster, which glide splits per node and routes by slot), so the Python side makes one
FFI call and glide one write per node, while glide keeps doing reconnects, MOVED/ASK,
failover and sharded pub/sub.  A prototype: commands are raw argument lists
(``custom_command``), errors come back per command (``raise_on_error=False``)."""

from __future__ import annotations

import asyncio
from typing import Any

from glide import Batch, ClusterBatch, RequestError

from bench.redis_clients.base import LoopBatch


class GlideAutoBatch(LoopBatch):
    def __init__(self, client: Any, cluster: bool) -> None:
        super().__init__()
        self._client = client
        self._cluster = cluster
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.commands = 0

    def _command(self, args: tuple[Any, ...]) -> list[Any]:
        return [a if isinstance(a, (bytes, str)) else str(a) for a in args]

    def _dispatch(self, queued: list[Any], pending: list[asyncio.Future[Any]]) -> None:
        self.batches += 1
        self.commands += len(queued)
        task = asyncio.get_running_loop().create_task(self._send(queued, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, queued: list[list[Any]], pending: list[asyncio.Future[Any]]) -> None:
        if len(queued) == 1:  # nothing to batch: a plain command is cheaper
            try:
                pending[0].set_result(await self._client.custom_command(queued[0]))
            except Exception as e:
                pending[0].set_exception(e)
            return
        batch: Any = ClusterBatch(is_atomic=False) if self._cluster else Batch(is_atomic=False)
        for args in queued:
            batch.custom_command(args)
        try:
            replies = await self._client.exec(batch, raise_on_error=False) or []
        except Exception as e:
            for f in pending:
                if not f.done():
                    f.set_exception(e)
            return
        for f, r in zip(pending, replies, strict=True):
            if f.done():
                continue
            if isinstance(r, RequestError):
                f.set_exception(r)
            else:
                f.set_result(r)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
