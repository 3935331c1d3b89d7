"""A small TCP proxy for fault tests: put it between the product and a server (PostgreSQL)
and make that server unreachable at will.

::

    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()            # listens on 127.0.0.1:<proxy.port>
    await proxy.cut()              # drop every connection; new ones are reset at once
    proxy.resume()                 # forward again
    await proxy.stop()

While cut, the proxy keeps its port (so the product's URL stays valid) but resets every
new connection immediately, as a host whose server is down would.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepting = True
        self.forwarded = 0
        """Connections forwarded to the target so far."""
        self.refused = 0
        """Connections reset because the proxy was cut."""
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if not self.accepting:
                self.refused += 1
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                writer.transport.abort()
                return
            if not self.accepting:  # cut while connecting
                self.refused += 1
                up_writer.transport.abort()
                writer.transport.abort()
                return
            self.forwarded += 1
            self._transports.update((writer.transport, up_writer.transport))
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._transports.discard(writer.transport)
                self._transports.discard(up_writer.transport)
        finally:
            self._handlers.discard(task)

    async def cut(self) -> None:
        """Reset every open connection and refuse new ones until :meth:`resume`."""
        self.accepting = False
        for transport in list(self._transports):
            transport.abort()
        await self._settle()

    def resume(self) -> None:
        self.accepting = True

    async def stop(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._settle()

    async def _settle(self) -> None:
        handlers = list(self._handlers)
        if handlers:
            await asyncio.wait(handlers, timeout=5)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error, then close the other side (an abort: a dead peer)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, RuntimeError):
        # RuntimeError: uvloop's answer to a write on a transport the other side closed
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()
