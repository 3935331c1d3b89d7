"""Batch a WebSocket's socket writes per event-loop iteration.

A connection's writer sends its backlog frame after frame, and uvicorn's WebSocket
protocol writes each frame to the transport at once: a client that gets several frames in
one iteration (an agent's ``assigned``, the chat, its first messages) costs one ``send``
system call per frame.  ``CoalescingTransport`` sits between the protocol and the socket:
``write`` appends to a buffer that one ``call_soon`` callback writes at the end of the
iteration, so each socket gets at most one write per iteration.  ``close`` writes what is
buffered first; ``abort`` drops it.  Everything else (flow control, peer address, reading)
is the real transport's.

Installed on every WebSocket by ``GuardedHttpProtocol.handle_websocket_upgrade``.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    __slots__ = ("_buffer", "_loop", "_transport", "writes")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self.writes = 0
        """Writes handed to the socket (for tests: frames of one iteration make one)."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def _flush(self) -> None:
        buffer = self._buffer
        if not buffer:
            return
        self._buffer = []
        if self._transport.is_closing():
            return
        self.writes += 1
        self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._buffer))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._buffer = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
