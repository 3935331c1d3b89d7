from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.cluster.harness import ValkeyCluster
from tests.harness import (
    Cluster,
    Valkey,
    create_pg_database,
    drop_pg_database,
    postgres_available,
)


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect garbage after every test, once its event loop is closed, so that a socket or
    Redis connection a test left open is reported (warnings are errors) against that test,
    not against whichever later test happens to trigger the collector."""
    yield
    gc.collect()


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


@pytest.fixture(scope="session")
def _valkey_cluster_session() -> Iterator[ValkeyCluster]:
    """A real Valkey Cluster (3 masters, 1 replica each: six processes), started the
    first time a test asks for ``valkey_cluster`` and stopped at the end of the run."""
    with ValkeyCluster() as c:
        yield c


@pytest.fixture
def valkey_cluster(_valkey_cluster_session: ValkeyCluster) -> ValkeyCluster:
    """The session's Valkey Cluster, healthy: nodes an earlier test killed are back (as
    replicas of whoever took their slots), every slot served.  A test may kill masters.
    (Not to be confused with ``cluster``: two hub processes.)"""
    _valkey_cluster_session.heal()
    return _valkey_cluster_session


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


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The records database: an SQLite file (empty string: the default under DATA_DIR)
    or a fresh PostgreSQL database.  Tests using it run on both."""
    if request.param == "sqlite":
        yield ""
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable (set TEST_PG_URL)")
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def records_cluster(redis_url: str, database_url: str) -> AsyncIterator[Cluster]:
    """Two hub processes writing records to SQLite or PostgreSQL."""
    c = Cluster(redis_url, n=2, database_url=database_url)
    await c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def valkey() -> Iterator[Valkey]:
    """A Valkey server of the test's own (no append-only file), which the test may pause
    (``Valkey.pause``); resumed before it is stopped."""
    server = Valkey(appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.resume()
        server.stop()
