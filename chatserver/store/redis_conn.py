"""Opening the Redis clients the rest of the product uses."""

from __future__ import annotations

from typing import cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.settings import Settings
from chatserver.store.cluster import ClusterRedis, is_cluster_url, pooled_cluster
from chatserver.store.embedded import EmbeddedRedis, start_or_join
from chatserver.store.multiplex import MuxRedis


def resolve_url(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """The Redis URL to use, starting or joining the embedded server when none is set."""
    if settings.redis_url:
        return settings.redis_url, None
    embedded = start_or_join(settings.data_dir)
    return embedded.url, embedded


RETRY_CAP_S = 1.0
"""The longest pause between two attempts of a command across an outage."""


def is_overload(exc: BaseException) -> bool:
    """Whether a failed storage call means "busy or unreachable, retry later" (Redis down
    or paused, too many commands waiting for replies, a deadline passed) rather than a
    real refusal.  The session answers these with the ``overloaded`` error code."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, TimeoutError))


def _pool(url: str, max_connections: int) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10.0,
        health_check_interval=5,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=RETRY_CAP_S, base=0.05), retries=8),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
    )


def connect(url: str, *, max_inflight: int = 10_000) -> MuxRedis:
    """A client whose callers all share one connection (``store/multiplex.py``): the
    commands of one event-loop iteration leave in one write, nothing waits for a pooled
    connection, and commands are retried across short outages (a Redis restart).  Its
    ``connection_pool`` only serves pub/sub.  Not for blocking commands.

    On a cluster (``redis+cluster://host:port,host:port``, ``store/cluster/``): the same
    client, with one shared connection per master, each group sent to its slot's master,
    ``PUBLISH`` sent as ``SPUBLISH`` (the fan-out subscribes with sharded pub/sub there)."""
    if is_cluster_url(url):
        return ClusterRedis(url, lambda node_url: _pool(node_url, 4), max_inflight=max_inflight)
    return MuxRedis(_pool(url, 4), max_inflight=max_inflight)


def connect_pooled(url: str, *, max_connections: int = 2) -> Redis:
    """A pooled client, for blocking commands (the records writer's ``XREADGROUP
    BLOCK``), which would stall every caller of a shared connection.

    On a cluster, redis-py's ``RedisCluster`` (``store/cluster/``): not a ``Redis``
    subclass, but with the same command methods, ``execute_command`` and pipelines
    (a transaction in one slot), which is all its users (``store/outbox.py``) call."""
    if is_cluster_url(url):
        return cast(Redis, pooled_cluster(url, max_connections=max_connections))
    # from_pool: the client owns the pool, so closing the client closes its connections
    return Redis.from_pool(_pool(url, max_connections))
