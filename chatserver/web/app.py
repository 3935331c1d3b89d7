"""The ASGI application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatserver.clock import Clock, wall_ms
from chatserver.hub.node import Node
from chatserver.settings import Settings
from chatserver.telemetry.logs import bind_request
from chatserver.web import (
    api,
    config_api,
    docs_api,
    files_api,
    inbox_api,
    notices_api,
    ops_api,
    planning_api,
    records_api,
    token_check,
)
from chatserver.web.request_ids import RequestIds, request_id
from chatserver.web.sockets import SocketEndpoint, agent_socket, visitor_socket

STATIC = Path(__file__).resolve().parent.parent / "static"

INDEX = """<!doctype html><html lang="en"><meta charset="utf-8"><title>chatserver</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em">
<h1>chatserver is running</h1>
<ul>
<li><a href="/demo/">Demo shop</a>: a sample customer website with the chat widget.</li>
<li><a href="/console/">Agent console</a>: log in as an agent or supervisor.</li>
<li><a href="/healthz">Health</a>, <a href="/readyz">readiness</a></li>
</ul>
<p>WebSocket endpoints: <code>/ws/visitor</code> and <code>/ws/agent</code>; REST API under
<code>/api/</code> (<a href="/api/docs">operations</a>,
<a href="/api/openapi.json">OpenAPI document</a>). See <code>docs/</code> in the repository.</p>
</body></html>"""

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; media-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def index(request: Request) -> Response:
    return HTMLResponse(INDEX)


async def widget_js(request: Request) -> Response:
    path = STATIC / "widget.js"
    if not path.exists():
        return Response("widget not built: run make widget", 404)
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"}
    )


class SecurityHeaders:
    """Strict headers on the console: its own scripts only, never framed.  The console is
    served only under ``/console/`` (``/static/console/`` answers 404, so that it cannot
    be loaded, or framed, without these headers).  Redirects never name the host the
    request claimed (``Host`` is the client's to choose): an absolute ``Location`` on the
    request's own host is made relative."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/static/console"):
            await PlainTextResponse("not found", 404)(scope, receive, send)
            return
        console = path.startswith("/console")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if 300 <= message["status"] < 400 and "location" in headers:
                    headers["Location"] = relative_location(headers["location"])
                if console:
                    headers["Content-Security-Policy"] = CONSOLE_CSP
                    headers["X-Frame-Options"] = "DENY"
                    headers["X-Content-Type-Options"] = "nosniff"
                    headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def relative_location(location: str) -> str:
    """A redirect target without scheme and host: the path (and query) only."""
    parts = urlsplit(location)
    if not (parts.scheme or parts.netloc):
        return location
    path = parts.path or "/"
    if path.startswith("//"):  # would read as a host again
        path = "/" + path.lstrip("/")
    return path + (f"?{parts.query}" if parts.query else "")


async def http_error(request: Request, exc: Exception) -> Response:
    """A route or method that does not exist: under ``/api/`` a JSON error like every other
    (``not_found``, ``method_not_allowed``), elsewhere plain text."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    return api.json_response(
        {"error": code, "message": exc.detail},
        exc.status_code,
        headers=dict(exc.headers) if exc.headers else None,
    )


class ChatApp(Starlette):
    """The Starlette application, with a short way in for the two WebSocket endpoints.

    A socket lives for hours, and every ASGI layer it passes through keeps a coroutine
    frame alive for all that time: Starlette's error and exception middleware, its router
    and route, and our own middleware (none of which does anything for a WebSocket: the
    security headers and the 404/405 pages are HTTP's).  So a handshake on ``/ws/visitor``
    or ``/ws/agent`` binds its request id and goes straight to its endpoint, which is
    itself a plain ASGI app (``SocketEndpoint``); everything else takes the full stack.
    (``__call__`` stays a coroutine function: that is how ASGI servers tell an ASGI 3
    app.)"""

    sockets: dict[str, SocketEndpoint] = {"/ws/visitor": visitor_socket, "/ws/agent": agent_socket}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.sockets.get(route_path(scope))
            if endpoint is not None:
                scope["app"] = self
                bind_request(request_id(scope))
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` a proxy mounted us under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(settings: Settings, clock: Clock = wall_ms) -> Starlette:
    node = Node(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        await node.admin.bootstrap_admin()
        try:
            yield
        finally:
            await node.stop()

    app = ChatApp(
        routes=[
            Route("/", index),
            *api.routes,
            *ops_api.routes,
            *records_api.routes,
            *inbox_api.routes,
            *planning_api.routes,
            *notices_api.routes,
            *config_api.routes,
            *token_check.routes,
            *docs_api.routes,
            *files_api.routes,
            WebSocketRoute("/ws/visitor", visitor_socket),
            WebSocketRoute("/ws/agent", agent_socket),
            Route("/widget.js", widget_js),
            Mount(
                "/console",
                StaticFiles(directory=STATIC / "console", html=True, check_dir=False),
                name="console",
            ),
            Mount(
                "/demo",
                StaticFiles(directory=STATIC / "demo", html=True, check_dir=False),
                name="demo",
            ),
            Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        ],
        middleware=[
            Middleware(RequestIds),
            Middleware(SecurityHeaders),
            Middleware(files_api.FilesCors),
        ],
        exception_handlers={404: http_error, 405: http_error},
        lifespan=lifespan,
    )
    app.state.node = node
    return app
