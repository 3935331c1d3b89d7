"""A Redis connection read and written directly, for the clients that own one: the
multiplexer (``multiplex.py``) and the pub/sub fan-out (``hub/fanout.py``).

redis-py makes the connection (handshake, AUTH, SELECT, the connect hook); after that the
owner writes packed commands itself and reads with :func:`replies`, which feeds whatever
one socket read gave into a ``hiredis.Reader`` and yields every complete reply at once (one
``await`` per read, not per reply).  Error replies come back as redis-py's exceptions
(``NoScriptError``, ``ResponseError`` ...), as values.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse

READ_SIZE = 65536


def dedicated(pool: ConnectionPool) -> Connection:
    """A new connection with the pool's settings, not yet connected: no health-check
    ``PING`` (it would mix into the owner's replies), and one attempt per connect (the
    owner paces its retries)."""
    kwargs = dict(pool.connection_kwargs)
    kwargs["health_check_interval"] = 0
    kwargs["retry"] = Retry(NoBackoff(), 0)
    return Connection(**kwargs)


def send(conn: Connection, data: bytes) -> bool:
    """Write ``data`` on ``conn`` unless its transport is closed or closing; ``False`` when
    it was not written.  (uvloop raises ``RuntimeError`` for a write on a closed transport;
    a connection the server just dropped is one until the reader sees the end of it, and
    the reader is what fails and retries the commands it carried.)"""
    writer = conn._writer
    if writer is None or writer.is_closing():
        return False
    try:
        writer.write(data)
    except (RuntimeError, OSError):
        return False
    return True


class SoonWriter:
    """Commands written to one connection are sent together, once per turn of the event
    loop: a burst of subscriptions (every agent offered a chat follows it) costs one
    ``send`` system call per turn instead of one per command.  Order on the connection is
    kept.  Commands queued for a connection that closes before the turn ends are dropped,
    as a write on a closing connection is (its reader sees the end and the owner
    subscribes again)."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._parts: list[bytes] = []

    def write(self, conn: Connection, *args: str) -> bool:
        """Queue a command for ``conn``; False when ``conn`` is closed or closing."""
        writer = conn._writer
        if writer is None or writer.is_closing():
            return False
        if self._parts and conn is not self._conn:
            self.flush()  # another connection now: what the last one had goes first
        if not self._parts:
            asyncio.get_running_loop().call_soon(self.flush)
        self._conn = conn
        self._parts.append(hiredis.pack_command(args))  # type: ignore[arg-type]
        return True

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and self._conn is not None:
            send(self._conn, b"".join(parts))


async def replies(conn: Connection) -> AsyncIterator[list[Any]]:
    """The replies arriving on ``conn``, a batch per socket read; raises
    ``ConnectionError`` when the connection ends."""
    stream = conn._reader
    if stream is None:
        raise RedisConnectionError("not connected")
    parser = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
    while True:
        data = await stream.read(READ_SIZE)
        if not data:
            raise RedisConnectionError("Connection closed by server.")
        parser.feed(data)
        batch = []
        while (reply := parser.gets()) is not False:
            batch.append(reply)
        yield batch
