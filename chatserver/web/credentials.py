"""Where credentials travel: never in a URL.

- ``Authorization: Bearer <token>`` (programs, the Python client);
- the WebSocket subprotocol list ``["lc.v1", "lc.token.<token>"]`` (browsers cannot set
  headers on a WebSocket); the server answers with ``lc.v1``;
- the ``lc_session`` cookie set by ``POST /api/login`` (the console), HttpOnly and
  SameSite=Strict.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

SUBPROTOCOL = "lc.v1"
TOKEN_PREFIX = "lc.token."
COOKIE = "lc_session"


def offered_subprotocols(conn: HTTPConnection) -> list[str]:
    raw = conn.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def bearer_token(conn: HTTPConnection, *, cookie: bool) -> str | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    for proto in offered_subprotocols(conn):
        if proto.startswith(TOKEN_PREFIX):
            return proto[len(TOKEN_PREFIX) :] or None
    if cookie:
        return conn.cookies.get(COOKIE) or None
    return None


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """No Origin header: not a browser, nothing to hijack.  Else it must be listed."""
    if origin is None:
        return True
    if "*" in allowed:
        return True
    return origin.rstrip("/") in {a.rstrip("/") for a in allowed}
