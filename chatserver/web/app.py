"""The ASGI application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute

from chatserver.clock import Clock, wall_ms
from chatserver.hub.node import Node
from chatserver.settings import Settings
from chatserver.web import api, records_api
from chatserver.web.sockets import agent_socket, visitor_socket

INDEX = """<!doctype html><html lang="en"><meta charset="utf-8"><title>chatserver</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>chatserver is running</h1>
<p>WebSocket endpoints: <code>/ws/visitor</code> and <code>/ws/agent</code>.
REST API under <code>/api/</code>; health at <a href="/healthz">/healthz</a>.</p>
<p>See <code>docs/</code> in the repository for the protocol and configuration.</p>
</body></html>"""


async def index(request: object) -> Response:
    return HTMLResponse(INDEX)


def create_app(settings: Settings, clock: Clock = wall_ms) -> Starlette:
    node = Node(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await node.start()
        await bootstrap_admin(node)
        try:
            yield
        finally:
            await node.stop()

    app = Starlette(
        routes=[
            Route("/", index),
            *api.routes,
            *records_api.routes,
            WebSocketRoute("/ws/visitor", visitor_socket),
            WebSocketRoute("/ws/agent", agent_socket),
        ],
        lifespan=lifespan,
    )
    app.state.node = node
    return app


async def bootstrap_admin(node: Node) -> None:
    """On an empty system, create an ``admin`` agent so that someone can log in."""
    from chatserver.store.directory import Role

    password = node.settings.admin_password
    if not password or await node.directory.agent_count():
        return
    with contextlib.suppress(ValueError):
        await node.directory.create_agent(
            "admin", name="Administrator", password_hash=node.credentials.hash_password(password),
            role=Role.ADMIN, capacity=node.settings.default_capacity, skills={},
            now_ms=node.now(),
        )
