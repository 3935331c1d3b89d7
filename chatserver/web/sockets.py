"""The two WebSocket endpoints.  Credentials and Origin are checked before the socket is
accepted; a refusal is an HTTP 403 to the handshake."""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from chatserver.clock import new_id
from chatserver.hub.agent import AgentSession
from chatserver.hub.connection import Connection
from chatserver.hub.node import Node
from chatserver.hub.visitor import VisitorSession
from chatserver.protocol import CloseCode
from chatserver.store.codec import text
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


def _address_full(node: Node, ws: WebSocket) -> bool:
    address = client_address(ws)
    return node.by_address.get(address, 0) >= node.settings.max_connections_per_address


def _hold_address(node: Node, ws: WebSocket, delta: int) -> None:
    address = client_address(ws)
    count = node.by_address.get(address, 0) + delta
    if count > 0:
        node.by_address[address] = count
    else:
        node.by_address.pop(address, None)


async def visitor_socket(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    s = node.settings
    if _address_full(node, ws):
        await ws.close(CloseCode.POLICY)
        return
    allowed = tuple((await node.widget_settings()).allowed_origins) or s.widget_origins
    if not origin_allowed(ws.headers.get("origin"), allowed):
        await ws.close(CloseCode.POLICY)
        return
    token = bearer_token(ws, cookie=False)
    new_token: str | None = None
    if token:
        visitor_id = node.credentials.visitor_from_token(token)
        if visitor_id is None:
            await ws.close(CloseCode.POLICY)
            return
    else:
        if not await ratelimit.hit(node, "visitor", client_address(ws), s.new_visitors_per_minute):
            await ws.close(CloseCode.POLICY)
            return
        visitor_id = new_id("v")
        new_token = node.credentials.visitor_token(visitor_id)
    await ws.accept(subprotocol=_subprotocol(ws))
    if len(node.local("visitor", visitor_id)) >= s.max_connections_per_visitor:
        await ws.close(CloseCode.TOO_MANY, "too many connections for this visitor")
        return
    _hold_address(node, ws, 1)
    name = text(await node.redis.hget(node.keys.visitor(visitor_id), "name"))
    conn = Connection(
        node, ws, conn_id=new_id("vc"), role="visitor", subject=visitor_id,
        name=name or "Visitor",
    )
    conn.start()
    await node.add_connection(conn)
    session = VisitorSession(
        node, conn, new_token=new_token, user_agent=ws.headers.get("user-agent", "")
    )
    try:
        await session.run()
    finally:
        _hold_address(node, ws, -1)
        left = await node.remove_connection(conn)
        await conn.finish()
        if left == 0:
            await _visitor_left(node, visitor_id)


async def _visitor_left(node: Node, visitor_id: str) -> None:
    try:
        chat_id = await node.routing.visitor_open_chat(visitor_id)
        if chat_id:
            deadline = node.now() + int(node.settings.visitor_leave_grace_s * 1000)
            await node.redis.zadd(node.keys.visitor_gone, {chat_id: deadline}, nx=True)
    except Exception:
        log.exception("could not schedule the visitor's leave")


async def agent_socket(ws: WebSocket) -> None:
    node: Node = ws.app.state.node
    if _address_full(node, ws):
        await ws.close(CloseCode.POLICY)
        return
    if not origin_allowed(ws.headers.get("origin"), node.settings.allowed_agent_origins):
        await ws.close(CloseCode.POLICY)
        return
    token = bearer_token(ws, cookie=True)
    claims = node.credentials.agent_from_token(token) if token else None
    agent = await node.directory.get_agent(claims.agent_id) if claims else None
    if claims is None or agent is None or agent.disabled or agent.version != claims.version:
        await ws.close(CloseCode.POLICY)
        return
    await ws.accept(subprotocol=_subprotocol(ws))
    _hold_address(node, ws, 1)
    conn = Connection(
        node, ws, conn_id=new_id("ac"), role="agent", subject=agent.id, name=agent.name,
        supervisor=agent.role in SUPERVISING, version=agent.version,
    )
    conn.start()
    await node.add_connection(conn)
    status, became = await node.routing.agent_connect(agent.id, conn.id, node.now())
    if status == "disabled":
        conn.close(CloseCode.UNAUTHORIZED, "agent disabled")
    if became:
        node.request_drain()
    session = AgentSession(node, conn, agent)
    try:
        if not conn.closed:
            await session.run()
    finally:
        _hold_address(node, ws, -1)
        await node.remove_connection(conn)
        await conn.finish()
        try:
            await node.routing.agent_disconnect(agent.id, conn.id, node.now())
        except Exception:
            log.exception("could not record the agent's disconnect")
