"""The HTTP protocol uvicorn runs, with a deadline for request headers.

uvicorn times out idle keep-alive connections, but not a connection that never finishes
sending its first request headers: a half-open handshake would hold a socket forever
(SECURITY.md, attack 16).  This protocol closes any connection whose request headers are
not complete within ``HEADER_TIMEOUT_S`` of it opening (or of the previous response, for
keep-alive connections the keep-alive timeout applies first).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout_s: float = 10.0
    """Set from the HANDSHAKE_TIMEOUT_S setting before the server starts."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
