"""The HTTP protocol uvicorn runs: deadlines for request headers and bodies, and a limit on
the HTTP connections one client address may hold open (SECURITY.md, attack 16: slowloris).

- Headers: every request's headers must be complete within ``HANDSHAKE_TIMEOUT_S``, counted
  from the connection opening (first request) or from the request's first byte (later
  requests of a keep-alive connection; between requests uvicorn's keep-alive timeout
  applies).
- Body: a request's body must be complete within ``REQUEST_BODY_TIMEOUT_S`` of its headers.
- A connection that misses either deadline is closed.
- At most ``MAX_HTTP_CONNECTIONS_PER_ADDRESS`` open HTTP connections per client address on
  this process; one more is answered ``503`` and closed.  A connection upgraded to a
  WebSocket stops counting here (``MAX_CONNECTIONS_PER_ADDRESS`` applies to it).  Peers in
  ``FORWARDED_ALLOW_IPS`` (a load balancer: every client arrives from its address) are not
  limited.

The limits are class attributes, set once from the settings by :func:`configure` before the
server starts (uvicorn makes one protocol instance per connection).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatserver.settings import Settings
from chatserver.web.coalesce import CoalescingTransport

_BUSY_TEXT = b"too many connections from your address\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 5\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
    % (len(_BUSY_TEXT), _BUSY_TEXT)
)


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 30.0
    max_per_address: ClassVar[int] = 0
    unlimited_peers: ClassVar[frozenset[str]] = frozenset()
    """Peers not limited per address ("*": every peer)."""
    open_by_address: ClassVar[dict[str, int]] = {}
    """Open HTTP connections per client address in this process."""

    _timer: asyncio.TimerHandle | None = None
    _counted: str | None = None  # the address this connection counts against

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.max_per_address
        address = self.client[0] if self.client else None
        if limit and address is not None and not self._unlimited(address):
            held = self.open_by_address.get(address, 0)
            if held >= limit:
                transport.write(BUSY)
                transport.close()
                return
            self.open_by_address[address] = held + 1
            self._counted = address
        self._arm(self.header_timeout_s)

    def _unlimited(self, address: str) -> bool:
        peers = self.unlimited_peers
        return "*" in peers or address in peers

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:  # a later request of a keep-alive connection
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.body_timeout_s)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self._uncount()  # from now on a WebSocket, counted by the application
        # the WebSocket protocol writes through a transport that batches each iteration's
        # frames into one socket write (web/coalesce.py); this protocol is done with it
        real = self.transport
        self.transport = CoalescingTransport(real, self.loop)  # type: ignore[assignment]
        try:
            super().handle_websocket_upgrade()
        finally:
            self.transport = real

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._uncount()
        super().connection_lost(exc)

    def _uncount(self) -> None:
        address, self._counted = self._counted, None
        if address is not None:
            held = self.open_by_address.get(address, 0) - 1
            if held > 0:
                self.open_by_address[address] = held
            else:
                self.open_by_address.pop(address, None)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, self._late)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()


def configure(settings: Settings) -> None:
    """Set the protocol's limits from the settings (before the server starts)."""
    GuardedHttpProtocol.header_timeout_s = settings.handshake_timeout_s
    GuardedHttpProtocol.body_timeout_s = settings.request_body_timeout_s
    GuardedHttpProtocol.max_per_address = settings.max_http_connections_per_address
    GuardedHttpProtocol.unlimited_peers = frozenset(
        p.strip() for p in settings.forwarded_allow_ips.split(",") if p.strip()
    )
