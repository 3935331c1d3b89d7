"""``POST /api/visitor/check``: is this visitor token still valid?

A refused WebSocket handshake reaches a browser as a bare 1006 close, the same as a
server that is down, restarting or unreachable.  A client whose handshakes keep failing
asks here before it drops its token: the only answer on which it may drop it is
``401 {"error": "invalid_token"}``, given by a server that is up, for exactly the tokens
the visitor handshake refuses as bad credentials (forged, signed with another
``SECRET_KEY``, expired).  Anything else (200, another status, a network error) means:
keep the token and go on reconnecting.  See docs/protocol.md, section 2.6.

The token travels in the JSON body (never in the URL); the widget sends the body as
``text/plain`` so that the cross-origin request needs no CORS preflight.  Rate limited per
client address (``TOKEN_CHECKS_PER_MINUTE``), like new visitors and logins.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatserver.hub.node import Node
from chatserver.web import ratelimit
from chatserver.web.api import ApiError, _body, endpoint, json_response
from chatserver.web.config_api import widget_origins
from chatserver.web.credentials import client_address, origin_allowed
from chatserver.web.models import TokenCheck

INVALID_TOKEN = "invalid_token"
"""The documented error code: the one answer that lets a client drop its token."""


@endpoint
async def visitor_check(request: Request) -> Response:
    node: Node = request.app.state.node
    headers = {"Cache-Control": "no-store", "Vary": "Origin"}
    origin = request.headers.get("origin")
    if origin is not None:
        # the same sites that may open the visitor socket may ask (and read the answer)
        if not origin_allowed(origin, await widget_origins(node)):
            raise ApiError(403, "forbidden", "this site may not embed the widget")
        headers["Access-Control-Allow-Origin"] = origin
    if not await ratelimit.hit(
        node, "token_check", client_address(request), node.settings.token_checks_per_minute
    ):
        return json_response(
            {
                "error": "rate_limited",
                "message": "too many token checks; keep the token and ask again later",
            },
            429,
            headers={**headers, "Retry-After": "60"},
        )
    body = await _body(request, TokenCheck)
    if node.credentials.visitor_from_token(body.token) is None:
        return json_response(
            {
                "error": INVALID_TOKEN,
                "message": "this visitor token is not valid: drop it and connect without a token",
            },
            401,
            headers=headers,
        )
    return json_response({"valid": True}, headers=headers)


routes = [Route("/api/visitor/check", visitor_check, methods=["POST"])]
