from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.harness import Cluster, Valkey


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when given (CI has Redis on 6379), else an embedded Valkey server.

    Every cluster uses its own key prefix, so tests never see each other's keys."""
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = Valkey()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def cluster(redis_url: str) -> AsyncIterator[Cluster]:
    """Two `chatserver serve` processes sharing one Redis."""
    c = Cluster(redis_url, n=2)
    await c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
async def single(redis_url: str) -> AsyncIterator[Cluster]:
    c = Cluster(redis_url, n=1)
    await c.start()
    try:
        yield c
    finally:
        c.stop()
