from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.cluster.harness import Node, ValkeyCluster
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


def _product_cluster_url(c: ValkeyCluster, first: Node | None = None) -> str:
    """The product's ``redis+cluster://`` URL for the test cluster, every node a seed.

    The first seed is ``first`` if given, else a node that is a replica now (a test that
    kills a master then still finds the cluster through the first seed; the failover
    tests that kill the first seed pass it as ``first``)."""
    if first is None:
        replicas = {r.port for n in c.nodes if n.running for r in c.replicas_of(n)}
        first = next(n for n in c.nodes if n.port in replicas)
    order = [first, *(n for n in c.nodes if n.port != first.port)]
    return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in order) + "/0"


@pytest.fixture
def cluster_url_for(valkey_cluster: ValkeyCluster) -> Callable[[Node | None], str]:
    """``cluster_url_for(first)``: the healed session cluster's ``redis+cluster://`` URL,
    ``first`` its first seed (None: a replica; see ``_product_cluster_url``)."""
    return lambda first=None: _product_cluster_url(valkey_cluster, first)


@pytest.fixture
def cluster_redis_url(cluster_url_for: Callable[[Node | None], str]) -> str:
    """A ``redis+cluster://`` URL of the session's Valkey Cluster (healed), its first seed
    a node that is a replica now."""
    return cluster_url_for(None)


@pytest.fixture
async def hubs_on_cluster(cluster_redis_url: str) -> AsyncIterator[Cluster]:
    """Two `chatserver serve` processes sharing the Valkey Cluster."""
    c = Cluster(cluster_redis_url, n=2)
    await c.start()
    try:
        yield c
    finally:
        c.stop()


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
