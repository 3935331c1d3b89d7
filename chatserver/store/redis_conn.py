"""Opening the Redis client the rest of the product uses."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatserver.settings import Settings
from chatserver.store.embedded import EmbeddedRedis, start_or_join


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
    or paused, every pooled connection in use, a deadline passed) rather than a real
    refusal.  The session answers these with the ``overloaded`` error code."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, TimeoutError))


def connect(url: str, *, max_connections: int = 200, pool_timeout_s: float = 10.0) -> Redis:
    """A pooled client that retries commands across short outages (a Redis restart)."""
    # a blocking pool: a burst of commands beyond max_connections waits for a free
    # connection (up to pool_timeout_s) instead of failing at once with MaxConnectionsError
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout_s,
        health_check_interval=5,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=RETRY_CAP_S, base=0.05), retries=8),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError],
    )
    # from_pool: the client owns the pool, so closing the client closes its connections
    # (Redis(connection_pool=...) would leave them open)
    return Redis.from_pool(pool)
