"""The product's client on a real Valkey Cluster (``chatserver/store/cluster.py``), chosen by
``connect`` for a ``redis+cluster://`` URL: commands, pipelines and transactions in one
slot, script calls, and following the cluster when a slot moves or a master dies."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import CrossSlotTransactionError, ResponseError

from chatserver.settings import Settings
from chatserver.store.cluster import ClusterRedis, parse_cluster_url
from chatserver.store.keys import Keys
from chatserver.store.messages import MessageStore
from chatserver.store.multiplex import MuxRedis
from chatserver.store.redis_conn import connect, connect_pooled
from chatserver.store.resp import dedicated
from chatserver.store.scripts import Scripts
from tests.cluster.harness import ValkeyCluster, slot_of
from tests.harness import free_port, scaled


def cluster_url(c: ValkeyCluster) -> str:
    return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in c.seed_hosts[:2]) + "/0"


@contextlib.asynccontextmanager
async def client(c: ValkeyCluster) -> AsyncIterator[MuxRedis]:
    redis = connect(cluster_url(c))
    try:
        yield redis
    finally:
        await redis.aclose()


def test_a_cluster_url_is_parsed() -> None:
    seeds, node_url = parse_cluster_url("rediss+cluster://u:pw@a:7000,b:7001,[::1]:7002/0?x=1")
    assert seeds == [("a", 7000), ("b", 7001), ("::1", 7002)]
    assert node_url("b", 7001) == "rediss://u:pw@b:7001/0?x=1"
    assert node_url("::1", 7002) == "rediss://u:pw@[::1]:7002/0?x=1"


async def test_a_plain_url_keeps_the_single_server_client() -> None:
    redis = connect("redis://127.0.0.1:6379/0")
    try:
        assert type(redis) is MuxRedis
    finally:
        await redis.aclose()


async def test_commands_go_to_the_master_of_their_slot(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    keys = [f"cl:{{chat-{i}}}:meta" for i in range(40)]
    async with asyncio.timeout(scaled(20)), client(c) as redis:
        assert isinstance(redis, ClusterRedis)
        for i, key in enumerate(keys):
            await redis.hset(key, mapping={"n": i})
        assert [await redis.hget(k, "n") for k in keys] == [str(i).encode() for i in range(40)]
        assert await redis.ping()
        assert len(redis.mux.masters) == 3
    for i, key in enumerate(keys):
        with c.master_of_key(key).client() as direct:
            assert direct.hget(key, "n") == str(i)


async def test_pipelines_and_transactions(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(20)), client(c) as redis:
        # a transaction in one slot
        async with redis.pipeline(transaction=True) as tx:
            tx.set("cl:{tx}:a", 1).incr("cl:{tx}:a").rpush("cl:{tx}:l", "x", "y")
            assert await tx.execute() == [True, 2, 2]
        # a pipeline in one slot
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get("cl:{tx}:a").lrange("cl:{tx}:l", 0, -1)
            assert await pipe.execute() == [b"2", [b"x", b"y"]]
        # a pipeline over many slots: split by master, replies in order
        keys = [f"cl:{{p{i}}}" for i in range(30)]
        assert len({slot_of(k) for k in keys}) == 30
        async with redis.pipeline(transaction=False) as pipe:
            for i, key in enumerate(keys):
                pipe.set(key, i)
            for key in keys:
                pipe.get(key)
            replies = await pipe.execute()
        assert replies == [True] * 30 + [str(i).encode() for i in range(30)]
        # a transaction over two slots is refused before anything is sent
        async with redis.pipeline(transaction=True) as tx:
            tx.set("cl:{a}:x", 1).set("cl:{b}:x", 1)
            with pytest.raises(CrossSlotTransactionError):
                await tx.execute()
        assert await redis.exists("cl:{a}:x") == await redis.exists("cl:{b}:x") == 0
        # a command refused by the server raises as on one server
        await redis.set("cl:{tx}:s", "text")
        with pytest.raises(ResponseError):
            await redis.incr("cl:{tx}:s")


async def test_scripts_run_on_the_master_of_their_keys(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    keys = Keys(prefix="cl-scripts")
    async with asyncio.timeout(scaled(20)), client(c) as redis:
        scripts = Scripts(redis)
        await redis.delete(keys.epoch, keys.run_id)
        # first call: NOSCRIPT on the master, then SCRIPT LOAD on every master
        first = await scripts.call(
            "bump_epoch", epoch=keys.epoch, epoch_run=keys.run_id, run_id="run-1"
        )
        again = await scripts.call(
            "bump_epoch", epoch=keys.epoch, epoch_run=keys.run_id, run_id="run-1"
        )
        bumped = await scripts.call(
            "bump_epoch", epoch=keys.epoch, epoch_run=keys.run_id, run_id="run-2"
        )
        assert int(again) == int(first) and int(bumped) == int(first) + 1
        await redis.script_flush()  # on every master: the next call reloads
        assert int(
            await scripts.call(
                "bump_epoch", epoch=keys.epoch, epoch_run=keys.run_id, run_id="run-2"
            )
        ) == int(bumped)
    with c.master_of_key(keys.epoch).client() as direct:
        assert int(direct.get(keys.epoch) or 0) == int(bumped)


async def test_a_moved_slot_is_followed(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    key = "cl:{moving}:k"
    slot = slot_of(key)
    async with asyncio.timeout(scaled(30)), client(c) as redis:
        await redis.set(key, "before")
        source = c.master_of_slot(slot)
        target = next(
            c.node_at(p)
            for p in {c.master_of_slot(s).port for s in range(0, 16384, 64)}
            if p != source.port
        )
        await asyncio.to_thread(c.migrate_slot, slot, target)
        redirections = redis.mux.redirections
        # the client's map still says source: MOVED, then the new master
        assert await redis.get(key) == b"before"
        assert redis.mux.redirections > redirections
        await redis.set(key, "after")
        assert redis.mux.address_of_slot(slot) == ("127.0.0.1", target.port)
    with target.client() as direct:
        assert direct.get(key) == "after"


async def test_ask_during_a_migration(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    moved_key, staying_key = "cl:{asking}:moved", "cl:{asking}:staying"
    slot = slot_of(moved_key)
    async with asyncio.timeout(scaled(30)), client(c) as redis:
        await redis.set(moved_key, "m")
        await redis.set(staying_key, "s")
        source = c.master_of_slot(slot)
        target = next(
            c.node_at(p)
            for p in {c.master_of_slot(s).port for s in range(0, 16384, 64)}
            if p != source.port
        )
        c.begin_migration(slot, target)
        try:
            c.move_keys(slot, source, target, [moved_key])
            redirections = redis.mux.redirections
            # one key moved, one not: ASK for the first, answered by the target
            async with redis.pipeline(transaction=False) as pipe:
                pipe.get(moved_key).get(staying_key)
                assert await pipe.execute() == [b"m", b"s"]
            assert await redis.get(moved_key) == b"m"
            assert redis.mux.redirections >= redirections + 2  # ASK, not MOVED: twice
            assert redis.mux.address_of_slot(slot) == ("127.0.0.1", source.port)
        finally:
            await asyncio.to_thread(c.move_keys, slot, source, target)
            await asyncio.to_thread(c.finish_migration, slot, target)
        assert await redis.get(staying_key) == b"s"


async def test_commands_resume_on_the_promoted_replica(valkey_cluster: ValkeyCluster) -> None:
    """A master is killed while a writer keeps going: its commands wait through the
    failover and go on against the replica that took the slot over."""
    c = valkey_cluster
    key, other = "cl:{failover}:n", "cl:{elsewhere}:n"
    slot = slot_of(key)
    if c.master_of_key(other).port == c.master_of_slot(slot).port:
        other = "cl:{elsewhere-2}:n"
    assert c.master_of_key(other).port != c.master_of_slot(slot).port
    async with asyncio.timeout(scaled(45)), client(c) as redis:
        await redis.delete(key)
        await redis.delete(other)
        stop = asyncio.Event()
        acked: list[int] = []
        progressed = asyncio.Event()
        wanted = 20

        async def writer() -> None:
            while not stop.is_set():
                acked.append(int(await redis.incr(key)))
                await redis.incr(other)
                if len(acked) >= wanted:
                    progressed.set()
                await asyncio.sleep(0.005)

        task = asyncio.create_task(writer())
        try:
            await progressed.wait()
            killed = c.kill_master(slot)
            before = len(acked)
            new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
            progressed.clear()
            wanted = before + 20
            done, _ = await asyncio.wait(
                [task, asyncio.ensure_future(progressed.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            assert task not in done, task.exception()
        finally:
            stop.set()
            await task
        assert redis.mux.address_of_slot(slot) == ("127.0.0.1", new.port)
        assert redis.mux.refreshes >= 2  # the first map, and one after the kill
        # the counter goes on from what the replica had: every later reply is one more
        after = acked[before:]
        assert all(b == a + 1 for a, b in itertools.pairwise(after[1:]))
        assert int(await redis.get(key) or 0) == acked[-1]


async def test_the_pooled_client_for_blocking_reads(valkey_cluster: ValkeyCluster) -> None:
    """``connect_pooled`` on a cluster URL: a blocking stream read and a one-slot
    transaction, as the records writer's outbox does them."""
    stream = "cl:{outbox}:stream"
    redis = connect_pooled(cluster_url(valkey_cluster))
    try:
        async with asyncio.timeout(scaled(20)):
            await redis.delete(stream)
            await redis.xgroup_create(stream, "g", id="0", mkstream=True)
            reader = asyncio.create_task(
                redis.xreadgroup("g", "c", {stream: ">"}, count=10, block=int(scaled(10) * 1000))
            )
            await asyncio.sleep(0.1)
            await redis.xadd(stream, {"chat": "1"})
            ((name, entries),) = await reader
            assert name == stream.encode() and entries[0][1] == {b"chat": b"1"}
            async with redis.pipeline(transaction=True) as tx:
                tx.xack(stream, "g", entries[0][0]).xlen(stream)
                assert await tx.execute() == [1, 1]
    finally:
        await redis.aclose()


async def test_an_unreachable_seed_is_skipped(valkey_cluster: ValkeyCluster) -> None:
    dead = free_port()  # nothing listens there
    url = f"redis+cluster://127.0.0.1:{dead},127.0.0.1:{valkey_cluster.nodes[-1].port}"
    redis = connect(url)
    try:
        async with asyncio.timeout(scaled(20)):
            await redis.set("cl:{seeds}", "ok")
            assert await redis.get("cl:{seeds}") == b"ok"
    finally:
        await redis.aclose()


async def test_the_connect_hook_works_on_the_master_of_its_slot(
    valkey_cluster: ValkeyCluster,
) -> None:
    """The epoch guard (``MessageStore.guard_epoch``, a connect hook whose script touches
    the routing slot) with a first seed that does not serve that slot: connections to
    other nodes (the first seed's, pub/sub's) are made all the same, and the connection
    to the slot's master bumps the epoch for that master's run id."""
    c = valkey_cluster
    keys = Keys(prefix=f"cl-guard-{uuid.uuid4().hex[:8]}")
    owner = c.master_of_key(keys.epoch)
    others = [n for n in c.nodes if n.running and n.port != owner.port]
    url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in [*others, owner])
    redis = connect(url)
    try:
        async with asyncio.timeout(scaled(20)):
            messages = MessageStore(redis, keys, Scripts(redis), Settings())
            messages.guard_epoch()
            for i in range(30):  # a connection to every master
                await redis.set(f"cl:{{guard-{i}}}", i)
            assert messages.epoch >= 1
            with owner.client() as direct:
                assert messages.run_id == direct.info("server")["run_id"]
                assert int(direct.get(keys.epoch) or 0) == messages.epoch
            pubsub = dedicated(redis.connection_pool)  # as the fan-out makes its own
            await pubsub.connect()
            await pubsub.disconnect()
    finally:
        await redis.aclose()
