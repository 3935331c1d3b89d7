"""Issue 10, items 1-2: the multiplexed Redis client (``store/multiplex.py``) against a real
server: redis-py's behaviour (replies, callbacks, pipelines, transactions, scripts), one
write per event-loop iteration, no lost or doubled command across dropped connections, the
in-flight bound, and the connect hook on every reconnect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, DataError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from chatserver.store.multiplex import MuxRedis, Saturated
from chatserver.store.redis_conn import connect, connect_pooled
from tests.harness import Valkey, scaled


@pytest.fixture
async def mux(redis_url: str) -> AsyncIterator[MuxRedis]:
    client = connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def _key(name: str) -> str:
    return f"mux-test:{uuid.uuid4().hex}:{name}"


async def test_replies_and_callbacks_are_redis_pys(mux: MuxRedis) -> None:
    k, h, z = _key("s"), _key("h"), _key("z")
    assert await mux.set(k, "v", px=60_000) is True
    assert await mux.get(k) == b"v"
    assert await mux.hset(h, mapping={"a": 1, "b": "x"}) == 2
    assert await mux.hgetall(h) == {b"a": b"1", b"b": b"x"}
    assert await mux.hgetall(_key("none")) == {}
    assert await mux.zadd(z, {"m1": 1.5, "m2": 2}) == 2
    assert await mux.zrange(z, 0, -1, withscores=True) == [(b"m1", 1.5), (b"m2", 2.0)]
    assert (await mux.info("server"))["run_id"]
    assert [k async for k in mux.scan_iter(match=h)] == [h.encode()]
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await mux.lpush(h, 1)
    with pytest.raises(DataError):
        await mux.set(k, None)  # type: ignore[arg-type]
    await mux.delete(k, h, z)


async def test_pipelines_and_transactions(mux: MuxRedis) -> None:
    n, h = _key("n"), _key("h")
    async with mux.pipeline(transaction=True) as pipe:
        pipe.incr(n)
        pipe.hset(h, "f", "1")
        pipe.hgetall(h)
        assert await pipe.execute() == [1, 1, {b"f": b"1"}]
    async with mux.pipeline(transaction=False) as pipe:
        pipe.incr(n)
        pipe.lpush(h, "x")  # WRONGTYPE, in place
        pipe.get(n)
        got = await pipe.execute(raise_on_error=False)
    assert got[0] == 2 and isinstance(got[1], ResponseError) and got[2] == b"2"
    async with mux.pipeline(transaction=False) as pipe:
        pipe.lpush(h, "x")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await pipe.execute()
    # a transaction whose command is refused while queued is aborted as a whole
    async with mux.pipeline(transaction=True) as pipe:
        pipe.incr(n)
        pipe.execute_command("NO-SUCH-COMMAND")
        with pytest.raises(ResponseError):
            await pipe.execute()
    assert await mux.get(n) == b"2"
    await mux.delete(n, h)


async def test_scripts_reload_after_a_script_flush(mux: MuxRedis) -> None:
    n = _key("n")
    script = mux.register_script("return redis.call('INCR', KEYS[1])")
    assert await script(keys=[n]) == 1
    await mux.script_flush()
    assert await script(keys=[n]) == 2  # NOSCRIPT, loaded again, run
    async with mux.pipeline(transaction=False) as pipe:
        await mux.script_flush()
        await script(keys=[n], client=pipe)
        assert await pipe.execute() == [3]  # the pipeline loads its scripts first
    await mux.delete(n)


async def test_commands_of_one_iteration_leave_in_one_write(mux: MuxRedis) -> None:
    await mux.ping()
    writes, commands = mux.mux.writes, mux.mux.commands
    n = _key("n")
    got = await asyncio.gather(*(mux.incr(n) for _ in range(500)))
    assert sorted(got) == list(range(1, 501))
    assert mux.mux.writes - writes == 1
    assert mux.mux.commands - commands == 500
    await mux.delete(n)


async def test_a_dropped_connection_loses_and_doubles_nothing(redis_url: str) -> None:
    mux = connect(redis_url)
    killer = connect_pooled(redis_url)
    n = _key("n")
    try:
        victim = await mux.client_id()

        async def writer(i: int) -> None:
            for j in range(100):
                await mux.set(f"{n}:{i}:{j}", 1)
                await mux.sadd(n, f"{i}:{j}")

        task = asyncio.gather(*(writer(i) for i in range(20)))
        await asyncio.sleep(0.05)
        await killer.client_kill_filter(_id=victim)
        await asyncio.wait_for(task, scaled(30))
        assert await mux.scard(n) == 2000  # SADD is idempotent: no loss shows as 2000
        assert mux.mux.reconnects >= 2 and mux.mux.inflight == 0
        assert await mux.client_id() != victim
    finally:
        await mux.delete(n)
        keys = [k async for k in mux.scan_iter(match=f"{n}:*", count=1000)]
        if keys:
            await mux.delete(*keys)
        await mux.aclose()
        await killer.aclose()


async def test_the_connect_hook_runs_before_queued_commands(redis_url: str) -> None:
    mux = connect(redis_url)
    killer = connect_pooled(redis_url)
    marker = _key("hook")
    seen: list[Any] = []

    async def on_connect(conn: Any) -> None:
        await conn.on_connect()
        await conn.send_command("INCR", marker)
        seen.append(await conn.read_response())

    mux.connection_pool.connection_kwargs["redis_connect_func"] = on_connect
    try:
        await mux.ping()
        await killer.client_kill_filter(_id=await mux.client_id())
        # the next command finds the connection gone, reconnects (hook first), retries
        assert int(await mux.get(marker)) == 2
        assert seen == [1, 2]
    finally:
        await mux.delete(marker)
        await mux.aclose()
        await killer.aclose()


async def test_in_flight_bound_refuses_at_once(valkey: Valkey) -> None:
    mux = connect(valkey.url, max_inflight=3)
    try:
        await mux.ping()
        valkey.pause()
        stuck = [asyncio.ensure_future(mux.incr("n")) for _ in range(3)]
        await asyncio.sleep(0.1)
        with pytest.raises(Saturated):
            await mux.incr("n")
        assert isinstance(Saturated("x"), RedisConnectionError)  # -> ``overloaded``
        valkey.resume()
        assert sorted(await asyncio.wait_for(asyncio.gather(*stuck), scaled(10))) == [1, 2, 3]
        assert mux.mux.refused == 1
    finally:
        valkey.resume()
        await mux.aclose()


async def test_closing_fails_what_waits(valkey: Valkey) -> None:
    mux = connect(valkey.url)
    try:
        await mux.ping()
        valkey.pause()
        waiting = asyncio.ensure_future(mux.get("k"))
        await asyncio.sleep(0.1)
        await mux.aclose()
        with pytest.raises(RedisConnectionError):
            await waiting
        with pytest.raises(RedisConnectionError):
            await mux.get("k")
    finally:
        valkey.resume()
        await mux.aclose()


async def test_commands_refused_while_redis_loads_wait_for_it() -> None:
    """A restarted Redis answers ``LOADING`` until it has read its data; the commands,
    pipelines and scripts sent meanwhile wait and run once, not fail (a ``LOADING`` reply
    is redis-py's ``BusyLoadingError``, a ``ConnectionError``, not a ``ResponseError``)."""
    # 100 µs a key read: 20,000 keys load in about 2 s after the restart
    server = Valkey(
        appendonly=False,
        config={"key-load-delay": 100, "loading-process-events-interval-bytes": 1024},
    )
    server.start()
    mux = connect(server.url)
    try:
        async with mux.pipeline(transaction=False) as pipe:
            for i in range(20_000):
                pipe.set(f"k{i}", i)
            await pipe.execute()
        await mux.save()
        script = mux.register_script("return redis.call('INCR', KEYS[1])")
        server.stop()
        # (``start`` returns once loading is over: the test goes on while it loads)
        starting = asyncio.ensure_future(asyncio.to_thread(server.start))
        while not isinstance(await _raw_get(server.url), BusyLoadingError):
            assert not starting.done(), "Redis never answered LOADING"
            await asyncio.sleep(0.01)
        async with mux.pipeline(transaction=True) as pipe:
            pipe.incr("p")
            pipe.incr("p")
            done = await asyncio.wait_for(
                asyncio.gather(mux.incr("n"), script(keys=["s"]), pipe.execute()), scaled(30)
            )
        assert done == [1, 1, [1, 2]]
        assert await mux.dbsize() == 20_003
        await starting
    finally:
        await mux.aclose()
        server.stop()


async def _raw_get(url: str) -> Any:
    """``GET`` on a connection of its own, tried once (``PING`` is answered while loading,
    and redis-py retries a ``LOADING`` reply by default)."""
    client = Redis.from_url(url, retry=Retry(NoBackoff(), 0))
    try:
        return await client.get("n")
    except Exception as exc:
        return exc
    finally:
        await client.aclose()
