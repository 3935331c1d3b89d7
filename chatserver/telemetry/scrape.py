"""``GET /metrics``: who may read it, and the figures read from Redis when it is read.

Access (``docs/operations.md``): a request carrying ``Authorization: Bearer
<METRICS_TOKEN>`` is always let in when a token is set; without the token, only a request
that arrived straight from one of ``METRICS_ADDRESSES`` (loopback by default) is: one that
came through a proxy (it has ``X-Forwarded-For`` or ``Forwarded``) must carry the token,
since the address a proxy reports is whatever the client claimed.

Queue depth and the oldest wait per topic, and the length of the records outbox, are read
from Redis at scrape time in one pipeline, bounded in time (``METRICS_TIMEOUT_S``) and in
size (``METRICS_MAX_TOPICS`` topics, the first ``QUEUE_HEAD`` chats of each queue).  When
Redis does not answer in time those figures are left out and ``chat_redis_up`` is 0.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Final

from prometheus_client import REGISTRY, Gauge
from prometheus_client.exposition import choose_encoder
from redis.exceptions import RedisError
from starlette.requests import Request

from chatserver.core.queueing import enqueued_ms
from chatserver.hub.node import Node
from chatserver.settings import Settings
from chatserver.telemetry.metrics import REDIS, timed

QUEUE_HEAD: Final = 50
"""Chats read from the head of each queue to find its oldest: within one priority the
head is the oldest; chats re-queued to the front come first."""

QUEUE_DEPTH = Gauge("chat_queue_depth", "Chats waiting in each topic's queue", ["topic"])
QUEUE_OLDEST = Gauge(
    "chat_queue_oldest_wait_seconds",
    "How long the longest-waiting chat of each topic's queue has waited",
    ["topic"],
)
OUTBOX = Gauge(
    "chat_records_outbox_length", "Finished chats waiting to be written as interaction records"
)
REDIS_UP = Gauge("chat_redis_up", "1 when Redis answered this scrape's reads in time, else 0")
DRAINING = Gauge("chat_draining", "1 once this process is shutting down (/readyz answers 503)")
_CLIENTS = ["client"]
REDIS_INFLIGHT = Gauge(
    "chat_redis_inflight_commands",
    "Redis commands written and not yet answered, per multiplexed connection of this process "
    "(bounded by REDIS_MAX_INFLIGHT)",
    _CLIENTS,
)
REDIS_REFUSED = Gauge(
    "chat_redis_refused",
    "Actions refused since start (overloaded): REDIS_MAX_INFLIGHT commands were waiting",
    _CLIENTS,
)
REDIS_COMMANDS = Gauge(
    "chat_redis_commands", "Redis commands sent since start, per multiplexed connection", _CLIENTS
)
REDIS_WRITES = Gauge(
    "chat_redis_writes",
    "Socket writes that carried them (one per event-loop iteration with commands)",
    _CLIENTS,
)


def read_clients(node: Node) -> None:
    """The multiplexed Redis connections' counters (``store/multiplex.py``)."""
    for name in ("redis", "drain_redis", "background_redis"):
        client = getattr(node, name, None)
        mux = getattr(client, "mux", None)
        if mux is None:
            continue
        label = name.removesuffix("_redis").removesuffix("redis") or "actions"
        REDIS_INFLIGHT.labels(label).set(mux.inflight)
        REDIS_REFUSED.labels(label).set(mux.refused)
        REDIS_COMMANDS.labels(label).set(mux.commands)
        REDIS_WRITES.labels(label).set(mux.writes)


def allowed(request: Request, settings: Settings) -> bool:
    token = settings.metrics_token
    if token:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(
            auth[7:].strip().encode(), token.encode()
        ):
            return True
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    peer = request.client.host if request.client else ""
    if peer.startswith("::ffff:"):  # an IPv4 peer on a dual-stack socket
        peer = peer[7:]
    return peer in settings.metrics_addresses


async def read_queues(node: Node) -> None:
    """Set the gauges read from Redis (or mark Redis down for this scrape)."""
    s = node.settings
    try:
        async with asyncio.timeout(s.metrics_timeout_s):
            topics = sorted(await node.catalog.topics())[: s.metrics_max_topics]
            with timed(REDIS["scrape"]):
                queues, outbox = await node.reads.scrape(topics, QUEUE_HEAD)
    except (RedisError, OSError, TimeoutError):
        REDIS_UP.set(0)
        QUEUE_DEPTH.clear()
        QUEUE_OLDEST.clear()
        return
    now = node.now()
    QUEUE_DEPTH.clear()
    QUEUE_OLDEST.clear()
    for topic, (depth, head) in zip(topics, queues, strict=True):
        QUEUE_DEPTH.labels(topic).set(depth)
        oldest = min((enqueued_ms(score) for _, score in head), default=now)
        QUEUE_OLDEST.labels(topic).set(max(0, now - oldest) / 1000)
    OUTBOX.set(outbox)
    REDIS_UP.set(1)


async def render(node: Node, accept: str) -> tuple[bytes, str]:
    """The exposition and its content type, in the format the scraper asked for
    (``Accept``): Prometheus's text format 0.0.4, or OpenMetrics."""
    await read_queues(node)
    read_clients(node)
    DRAINING.set(1 if node.draining else 0)
    encode, content_type = choose_encoder(accept)
    return encode(REGISTRY), content_type
