"""The two WebSocket endpoints.  Credentials and Origin are checked before the socket is
accepted; a refusal is an HTTP 403 to the handshake.

An open visitor socket is mostly idle, and the hub holds tens of thousands of them, so what
stays alive for the life of a socket is kept small: the endpoints are plain ASGI apps (see
``SocketEndpoint``), the long-lived coroutine frames keep no handshake leftovers, and the
handshake's headers are released once read (see ``_release_handshake``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from starlette.responses import Response as HttpResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request, Response

from chatserver.clock import new_id
from chatserver.hub.agent import AgentSession
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.visitor import VisitorSession
from chatserver.protocol import CloseCode, resume_in_handshake
from chatserver.store import trips
from chatserver.store.directory import SUPERVISING
from chatserver.web import ratelimit
from chatserver.web.credentials import (
    SUBPROTOCOL,
    bearer_token,
    client_address,
    offered_subprotocols,
    origin_allowed,
)

log = logging.getLogger(__name__)


def _subprotocol(ws: WebSocket) -> str | None:
    return SUBPROTOCOL if SUBPROTOCOL in offered_subprotocols(ws) else None


def _release_handshake(ws: WebSocket) -> None:
    """Free the request and response headers once the handshake is done and everything
    needed from them has been read (call it after ``accept``).

    Nothing reads them afterwards, yet they would live as long as the socket: the ASGI
    scope's header list (~1 KiB), and with uvicorn's websockets-sansio protocol (the one
    ``chatserver serve`` runs) the handshake request, which the websockets parser keeps
    for the life of the connection, and response (~3 KiB).  Emptied in place: the
    objects stay valid, only their headers go.  With any other server or protocol only
    the scope's list is emptied."""
    headers = ws.scope.get("headers")
    if isinstance(headers, list):
        headers.clear()  # every Starlette ``Headers`` view of it (one is cached) sees this
    # Starlette keeps the server's receive callable; uvicorn's is a method of its protocol.
    protocol = getattr(getattr(ws, "_receive", None), "__self__", None)
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        for message in (getattr(protocol, "request", None), getattr(protocol, "response", None)):
            if isinstance(message, (Request, Response)):
                message.headers.clear()


class SocketEndpoint:
    """A WebSocket endpoint as a plain ASGI app.

    Given a function, Starlette's ``WebSocketRoute`` wraps it in ``websocket_session``
    plus a second exception-handling layer (the ``ExceptionMiddleware`` around the router
    already has one, with the same handlers): over 1 KiB of coroutines and closures alive
    for every open socket.  Given an ASGI app it calls it directly."""

    def __init__(self, handler: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.handler = handler
        self.__name__ = handler.__name__  # the route's name, as for a function endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive=receive, send=send)
        try:
            await self.handler(ws)
        except (RedisError, TimeoutError) as exc:
            # Redis unreachable or too slow (an outage the product rides out): one line,
            # no traceback, and the client is told to come back (503 / close 1013)
            log.warning(
                "%s: storage unavailable (%s); client told to retry",
                self.__name__,
                exc or type(exc).__name__,
            )
            await _refuse_unavailable(ws)


async def _refuse_unavailable(ws: WebSocket) -> None:
    """Before the handshake's answer: HTTP 503 with Retry-After; after it: close 1013."""
    with contextlib.suppress(Exception):
        if ws.application_state == WebSocketState.CONNECTING:
            await _refuse_busy(ws)
        elif ws.application_state == WebSocketState.CONNECTED:
            await ws.close(CloseCode.TRY_AGAIN, "storage unavailable")


async def _admit_visitor(node: Node, ws: WebSocket, address: str) -> tuple[str, str | None] | None:
    """Check the handshake and accept it: (visitor id, new token or None), or None when
    refused (the socket is closed).  Kept apart from the serving loop so that its locals
    (the bearer token, the settings) are not held for the life of the socket."""
    s = node.settings
    if node.registry.address_full(address):
        await ws.close(CloseCode.POLICY)
        return None
    allowed = tuple((await node.catalog.widget_settings()).allowed_origins) or s.widget_origins
    if not origin_allowed(ws.headers.get("origin"), allowed):
        await ws.close(CloseCode.POLICY)
        return None
    token = bearer_token(ws, cookie=False)
    new_token: str | None = None
    if token:
        visitor_id = node.credentials.visitor_from_token(token)
        if visitor_id is None:
            await ws.close(CloseCode.POLICY)
            return None
    else:
        if not await ratelimit.hit(node, "visitor", address, s.new_visitors_per_minute):
            await ws.close(CloseCode.POLICY)
            return None
        visitor_id = new_id("v")
        new_token = node.credentials.visitor_token(visitor_id)
    await ws.accept(subprotocol=_subprotocol(ws))
    if len(node.registry.local("visitor", visitor_id)) >= s.max_connections_per_visitor:
        await ws.close(CloseCode.TOO_MANY, "too many connections for this visitor")
        return None
    return visitor_id, new_token


class _Admission:
    """One visitor connection being set up holds one of ``Node.admission``'s slots until
    its welcome is sent (or it fails), whichever comes first; ``done`` may be called
    twice."""

    __slots__ = ("open", "slots")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self.slots, self.open = slots, True

    def done(self) -> None:
        if self.open:
            self.open = False
            self.slots.release()


async def _refuse_busy(ws: WebSocket) -> None:
    """HTTP 503 with Retry-After: too many visitor connections are being set up."""
    try:
        await ws.send_denial_response(
            HttpResponse("busy, retry later\n", status_code=503, headers={"Retry-After": "2"})
        )
    except RuntimeError:  # a server without the denial-response extension: plain 403
        await ws.close(CloseCode.TRY_AGAIN)


async def _visitor_socket(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    # the round-trip counts' label (tests only, see store/trips.py): the handshake and
    # the welcome are one action; each frame then has its own, and the end another
    if trips.watching():
        trips.label(trips.Action("connect", "visitor"))
    slots = node.registry.admission
    if slots is not None:
        # admission control: under a reconnect storm at most MAX_PENDING_HANDSHAKES
        # visitors are set up at once; the others wait their turn (in order, without
        # a retry's cost) for up to HANDSHAKE_QUEUE_S, then are told to come back
        try:
            await asyncio.wait_for(slots.acquire(), node.settings.handshake_queue_s)
        except TimeoutError:
            await _refuse_busy(ws)
            return
    admission = _Admission(slots) if slots is not None else None
    try:
        await _serve_visitor(node, ws, admission)
    finally:
        if admission is not None:
            admission.done()


async def _serve_visitor(node: Node, ws: WebSocket, admission: _Admission | None) -> None:
    address = client_address(ws)
    admitted = await _admit_visitor(node, ws, address)
    if admitted is None:
        return
    visitor_id, new_token = admitted
    user_agent = ws.headers.get("user-agent", "")
    query = ws.query_params
    resume = (
        resume_in_handshake(query.get("resume"), query.get("after")) if new_token is None else None
    )
    del query
    _release_handshake(ws)
    node.registry.hold_address(address, 1)
    budget = node.registry.join_budget(address)
    conn = Connection(
        node,
        ws,
        conn_id=new_id("vc"),
        role="visitor",
        subject=visitor_id,
        name="Visitor",
        budget=budget,  # a returning visitor's name is read below
    )
    await node.registry.add(conn)
    returning = new_token is None
    session = VisitorSession(node, conn, new_token=new_token, user_agent=user_agent, resume=resume)
    del admitted, new_token, user_agent, resume  # held by the session where still needed
    try:
        # after the subscription above, as the welcome's own read was: a chat started
        # meanwhile in another tab still reaches this one
        name, chat_id = await node.visitor_actions.connect(visitor_id, conn.id, returning=returning)
        conn.name = name or "Visitor"
        session.known_chat = chat_id
        del name, chat_id  # not kept for the life of the socket
        await session.run(admission.done if admission is not None else None)
    finally:
        if trips.watching():
            trips.label(trips.Action("disconnect", conn.participant))
        node.registry.hold_address(address, -1)
        await node.registry.remove(conn)
        await conn.finish()
        node.registry.leave_budget(address, budget)
        await _visitor_socket_closed(node, visitor_id, conn.id)


visitor_socket = SocketEndpoint(_visitor_socket)


async def _visitor_socket_closed(node: Node, visitor_id: str, conn_id: str) -> None:
    """The last socket of the visitor anywhere starts their leave grace period (see
    ``core/presence.py``).  If this fails (Redis down), the connection's expiry ends it."""
    try:
        await node.visitor_actions.disconnect(visitor_id, conn_id)
    except (RedisError, TimeoutError) as exc:
        log.warning(
            "could not record the disconnect of visitor %s (%s)",
            visitor_id,
            exc or type(exc).__name__,
        )
    except Exception:
        log.exception("could not record the visitor's disconnect")


async def _agent_socket(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    if trips.watching():  # the round-trip counts' label, as for visitors
        trips.label(trips.Action("connect", "agent"))
    address = client_address(ws)
    if node.registry.address_full(address):
        await ws.close(CloseCode.POLICY)
        return
    if not origin_allowed(ws.headers.get("origin"), node.settings.allowed_agent_origins):
        await ws.close(CloseCode.POLICY)
        return
    token = bearer_token(ws, cookie=True)
    claims = node.credentials.agent_from_token(token) if token else None
    agent = await node.admin.session_agent(claims)
    if claims is None or agent is None:
        await ws.close(CloseCode.POLICY)
        return
    await ws.accept(subprotocol=_subprotocol(ws))
    node.registry.hold_address(address, 1)
    conn = Connection(
        node,
        ws,
        conn_id=new_id("ac"),
        role="agent",
        subject=agent.id,
        name=agent.name,
        supervisor=agent.role in SUPERVISING,
        version=agent.version,
        budget=node.registry.join_budget(address),
    )
    await node.registry.add(conn)
    # after the subscription above, as the welcome's own read was
    status, chat_ids = await node.agent_actions.connect(agent.id, conn.id)
    if status == "disabled":
        conn.close(CloseCode.UNAUTHORIZED, "agent disabled")
    # the welcome shows the agent as read at the handshake, with the status the connect
    # left (no second read of the agent)
    session = AgentSession(node, conn, dataclasses.replace(agent, status=status))
    session.known_chats = chat_ids
    try:
        if not conn.closed:
            await session.run()
    finally:
        if trips.watching():
            trips.label(trips.Action("disconnect", conn.participant))
        node.registry.hold_address(address, -1)
        try:
            await node.registry.remove(conn)
            await conn.finish()
            if conn.budget is not None:
                node.registry.leave_budget(address, conn.budget)
        finally:
            # recorded whatever happened above: a disconnect never recorded leaves the
            # agent online with a chat load until the presence sweeper notices
            await node.agent_actions.disconnect(agent.id, conn.id)


agent_socket = SocketEndpoint(_agent_socket)
