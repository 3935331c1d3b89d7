"""The drain lease (``store/locks.py`` DrainLease, ``lua/drain_lease.lua``): one owner at a
time, extended and dropped only by its owner, lapsing by itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from chatserver.store.keys import Keys
from chatserver.store.locks import DrainLease
from chatserver.store.redis_conn import connect
from chatserver.store.scripts import Scripts


@pytest.fixture
async def leases(store_url: str) -> AsyncIterator[tuple[DrainLease, DrainLease]]:
    keys = Keys(f"dl{uuid.uuid4().hex[:10]}")
    redis = connect(store_url)
    scripts = Scripts(redis)
    try:
        yield (DrainLease(scripts, keys.drain_lease, "hub-a"),
               DrainLease(scripts, keys.drain_lease, "hub-b"))
    finally:
        await redis.aclose()


async def test_one_owner_at_a_time(leases: tuple[DrainLease, DrainLease]) -> None:
    a, b = leases
    assert await a.hold(60_000)
    assert not await b.hold(60_000)  # taken: b waits
    assert await a.hold(60_000)  # the holder extends it
    await b.drop()  # dropping a lease b does not hold changes nothing
    assert not await b.hold(60_000)
    await a.drop()
    assert await b.hold(60_000)  # dropped: b takes it
    assert not await a.hold(60_000)


async def test_a_dead_holders_lease_lapses(leases: tuple[DrainLease, DrainLease]) -> None:
    a, b = leases
    assert await a.hold(50)
    assert not await b.hold(50)
    await asyncio.sleep(0.2)  # a never drops it (its process died)
    assert await b.hold(50)
