"""Endpoints for operators and load balancers: ``/readyz`` and ``/metrics``
(``/healthz`` is in ``api``).  See ``docs/operations.md``."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver.hub.node import Node
from chatserver.telemetry import scrape

RETRY_AFTER_S = "5"


async def readyz(request: Request) -> Response:
    """200 while this process takes new connections; 503 from the moment its shutdown
    begins (SIGTERM), and while Redis does not answer within READINESS_TIMEOUT_S."""
    node: Node = request.app.state.node
    if node.draining:
        return JSONResponse(
            {"status": "draining", "node": node.node_id}, 503, {"Retry-After": RETRY_AFTER_S}
        )
    try:
        await asyncio.wait_for(node.reads.ping(), node.settings.readiness_timeout_s)
    except (RedisError, OSError, TimeoutError):
        return JSONResponse(
            {"status": "unavailable", "redis": False, "node": node.node_id},
            503,
            {"Retry-After": RETRY_AFTER_S},
        )
    return JSONResponse({"status": "ready", "redis": True, "node": node.node_id})


async def metrics(request: Request) -> Response:
    node: Node = request.app.state.node
    if not scrape.allowed(request, node.settings):
        return JSONResponse(
            {
                "error": "forbidden",
                "message": "metrics need METRICS_TOKEN or a request from METRICS_ADDRESSES",
            },
            403,
        )
    body, content_type = await scrape.render(node, request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})


routes = [
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
