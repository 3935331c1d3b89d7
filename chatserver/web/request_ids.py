"""A request id for every HTTP request and WebSocket connection, in its log events.

A client (or a proxy in front) may send ``X-Request-Id`` (up to 64 letters, digits and
``._-``); otherwise one is made.  HTTP answers carry it back in ``X-Request-Id``.  For a
WebSocket the id names the connection: every event logged while it is open carries it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatserver.telemetry.logs import bind_request, unbind_request

_VALID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _VALID.fullmatch(value):
            return bytes(value).decode("ascii")
    return secrets.token_hex(8)


class RequestIds:
    """Binds the request id for the request's task.  Not a coroutine itself: a WebSocket
    goes straight on to the app (each connection runs in its own task, so the id needs no
    undoing, and no frame of this middleware stays alive for the life of the socket)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "websocket":
            bind_request(request_id(scope))
            return self.app(scope, receive, send)
        if kind == "http":
            return self._http(scope, receive, send)
        return self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id(scope)
        token = bind_request(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_request(token)
