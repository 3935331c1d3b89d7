"""The REST API: login, agents, topics, queues.  JSON in and out.

Authentication: ``Authorization: Bearer <token>`` or the ``lc_session`` cookie.  A
cookie-authenticated request that changes state must carry an allowed ``Origin`` header
(CSRF protection on top of SameSite=Strict).  Errors are ``{"error": code, "message": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver.hub.node import Node
from chatserver.store.directory import (
    SUPERVISING,
    Agent,
    DirectoryError,
    Role,
    validate_topic_name,
)
from chatserver.web import ratelimit
from chatserver.web.credentials import COOKIE, bearer_token, client_address, origin_allowed
from chatserver.web.models import AgentPatch, LoginBody, NewAgent, TopicBody

MAX_BODY = 64 * 1024
RETRY_AFTER_S = "5"
"""Retry-After (seconds) on a 503 while Redis or the records database is unavailable."""
log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (msgspec encodes structs, dataclasses and plain values)."""
    return Response(
        msgspec.json.encode(data), status, media_type="application/json", headers=headers
    )


_json = json_response


T = TypeVar("T")


async def _body(request: Request, kind: type[T]) -> T:
    """Read and validate a JSON body, refusing one over MAX_BODY before it is buffered."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise ApiError(413, "too_large", "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "too_large", "request body too large")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


Q = TypeVar("Q", bound=msgspec.Struct)


def query(request: Request, kind: type[Q]) -> Q:
    """The query string as ``kind`` (numbers converted from text; unknown names ignored)."""
    try:
        return msgspec.convert(dict(request.query_params), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


async def current_agent(request: Request) -> Agent:
    node: Node = request.app.state.node
    token = bearer_token(request, cookie=True)
    claims = node.credentials.agent_from_token(token) if token else None
    agent = await node.admin.session_agent(claims)
    if agent is None:
        raise ApiError(401, "unauthorized", "log in first")
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    if request.method not in ("GET", "HEAD") and not bearer:
        origin = request.headers.get("origin")
        if origin is None or not origin_allowed(origin, node.settings.allowed_agent_origins):
            raise ApiError(403, "csrf", "cross-site request refused")
    return agent


def require(agent: Agent, *roles: Role) -> None:
    if agent.role not in roles:
        raise ApiError(403, "forbidden", "your role does not allow this")


Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(fn: Endpoint) -> Endpoint:
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return _json({"error": exc.code, "message": exc.message}, exc.status)
        except DirectoryError as exc:
            return _json({"error": "bad_request", "message": str(exc)}, 400)
        except RedisError:
            return _json(
                {"error": "unavailable", "message": "storage unavailable"},
                503,
                {"Retry-After": RETRY_AFTER_S},
            )
        except (DBAPIError, OSError) as exc:  # the records database is down or unreachable
            log.warning(
                "%s %s: records database unavailable: %s",
                request.method,
                request.url.path,
                type(exc).__name__,
            )
            return _json(
                {"error": "unavailable", "message": "records database unavailable"},
                503,
                {"Retry-After": RETRY_AFTER_S},
            )
        except ClientDisconnect:
            # the client went away in the middle of its request body: nobody to answer
            log.info(
                "%s %s: client disconnected before its request body ended",
                request.method,
                request.url.path,
            )
            return Response(status_code=400)

    return wrapped


@endpoint
async def login(request: Request) -> Response:
    node: Node = request.app.state.node
    if not await ratelimit.hit(
        node, "login", client_address(request), node.settings.logins_per_minute
    ):
        raise ApiError(429, "rate_limited", "too many login attempts; wait a minute")
    body = await _body(request, LoginBody)
    agent = await node.admin.agent(body.id)
    if (
        agent is None
        or agent.disabled
        or not node.credentials.verify_password(agent.password_hash, body.password)
    ):
        raise ApiError(401, "unauthorized", "wrong id or password")
    token = node.credentials.agent_token(agent.id, agent.version)
    response = _json({"token": token, "agent": agent.public()})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=node.settings.base_url.startswith("https"),
        max_age=int(node.settings.agent_token_ttl_s),
    )
    return response


@endpoint
async def logout(request: Request) -> Response:
    """Ends every session of the agent (tokens are stateless; the version is bumped)."""
    node: Node = request.app.state.node
    agent = await current_agent(request)
    await node.admin.end_sessions(agent)
    response = _json({"ok": True})
    response.delete_cookie(COOKIE)
    return response


@endpoint
async def me(request: Request) -> Response:
    return _json((await current_agent(request)).public())


@endpoint
async def agents(request: Request) -> Response:
    node: Node = request.app.state.node
    agent = await current_agent(request)
    if request.method == "GET":
        require(agent, *SUPERVISING)
        return _json([a.public() for a in await node.admin.agents()])
    require(agent, Role.ADMIN)
    body = await _body(request, NewAgent)
    created = await node.admin.create_agent(
        body.id,
        name=body.name or body.id,
        password=body.password,
        role=Role(body.role),
        capacity=body.capacity,
        skills=body.skills,
    )
    return _json(created.public(), 201)


@endpoint
async def one_agent(request: Request) -> Response:
    node: Node = request.app.state.node
    caller = await current_agent(request)
    agent_id = request.path_params["agent_id"]
    if request.method == "GET":
        if caller.id != agent_id:
            require(caller, *SUPERVISING)
        found = await node.admin.agent(agent_id)
        if found is None:
            raise ApiError(404, "not_found", "no such agent")
        return _json(found.public())
    require(caller, Role.ADMIN)
    if request.method == "DELETE":
        patch = AgentPatch(disabled=True)
    else:
        patch = await _body(request, AgentPatch)
    updated = await apply_agent_patch(node, agent_id, patch)
    return _json(updated.public())


async def apply_agent_patch(node: Node, agent_id: str, patch: AgentPatch) -> Agent:
    """Shared by the REST API and the command line's live path."""
    updated = await node.admin.update_agent(
        agent_id,
        name=patch.name,
        role=Role(patch.role) if patch.role else None,
        capacity=patch.capacity,
        skills=patch.skills,
        password=patch.password,
        disabled=patch.disabled,
    )
    if updated is None:
        raise ApiError(404, "not_found", "no such agent")
    return updated


@endpoint
async def topics(request: Request) -> Response:
    node: Node = request.app.state.node
    await current_agent(request)
    return _json([t.public() for t in await node.admin.topics()])


@endpoint
async def one_topic(request: Request) -> Response:
    node: Node = request.app.state.node
    caller = await current_agent(request)
    require(caller, Role.ADMIN)
    name = validate_topic_name(request.path_params["name"])
    if request.method == "DELETE":
        removed, waiting = await node.admin.delete_topic(name)
        if waiting:
            raise ApiError(409, "in_use", f"{waiting} chats are waiting in this topic's queue")
        return _json({"deleted": removed})
    body = await _body(request, TopicBody)
    topic = await node.admin.set_topic(
        name,
        required=body.required,
        optional=body.optional,
        priority=body.priority,
        labels={lang: label.strip() for lang, label in body.labels.items() if label.strip()},
    )
    return _json(topic.public())


@endpoint
async def queues(request: Request) -> Response:
    node: Node = request.app.state.node
    caller = await current_agent(request)
    require(caller, *SUPERVISING)
    return _json(await node.admin.queue_summary())


@endpoint
async def visitors_online(request: Request) -> Response:
    """The visitors on the site now (agents, supervisors, admins)."""
    node: Node = request.app.state.node
    await current_agent(request)
    settings = node.settings
    return _json(
        {
            "enabled": settings.visitor_tracking,
            "visitors": await node.admin.visitors_online(),
            "max": settings.visitors_online_max,
        }
    )


async def healthz(request: Request) -> Response:
    node: Node = request.app.state.node
    try:
        # bounded: with Redis down the client's connect and retries take seconds
        await asyncio.wait_for(node.reads.ping(), node.settings.health_timeout_s)
    except (RedisError, OSError, TimeoutError):
        return JSONResponse(
            {"status": "unavailable", "redis": False}, 503, {"Retry-After": RETRY_AFTER_S}
        )
    return JSONResponse({"status": "ok", "redis": True, "node": node.node_id})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/agents", agents, methods=["GET", "POST"]),
    Route("/api/agents/{agent_id}", one_agent, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/topics", topics, methods=["GET"]),
    Route("/api/topics/{name}", one_topic, methods=["PUT", "DELETE"]),
    Route("/api/queues", queues, methods=["GET"]),
    Route("/api/visitors/online", visitors_online, methods=["GET"]),
]
