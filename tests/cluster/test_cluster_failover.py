"""Failover on a real Valkey Cluster (3 masters, 1 replica each): two hub processes, an
agent and a visitor chatting over real WebSockets; the master serving the chat's
``{c:<chat>}`` slot (or the routing slot ``{rt}``) is SIGKILLed mid-chat while the visitor
keeps sending.  Its replica is promoted, the hubs follow the new topology, every message
acknowledged before or during the kill is still in the chat's log and seen by both sides,
and the chat goes on: new messages both ways, a new chat is routed, the close writes
exactly one record.

The hubs run with ``REDIS_WAIT_REPLICAS=1``: a message is acknowledged once the replica
has it (``WAIT``), which is what makes "no acknowledged message lost" hold on failover
(``docs/deployment.md``, "Failover and the loss window").  The loss window that remains
is made to happen (a frozen replica, so ``WAIT`` times out): exactly the messages counted
in ``chat_messages_unreplicated_total`` are lost.  The cost of the setting is asserted as
counts: one more command and one more round trip per message, on the chat slot's master.

The hubs' first seed is a replica (``cluster_url_for``), except in the case that kills
the first seed's own node: the fan-out's sharded pub/sub (``store/cluster/pubsub.py``)
follows the failover whichever node the seeds list first.  After a lossy failover of a
chat's master no lost message's sequence number is given out again (``lua/post.lua``
keeps the id of the node that wrote the chat's last message)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from chatserver.client import ChatClient, ClientError, http
from chatserver.settings import Settings
from chatserver.store.keys import Keys
from chatserver.store.messages import EVERYONE, MessageStore
from chatserver.store.redis_conn import connect
from chatserver.store.scripts import Scripts
from tests.cluster.harness import SLOTS, Node, ValkeyCluster, slot_of
from tests.harness import Cluster, active_chat, close_quietly, scaled, written_record

WAIT_ENV = {"redis_wait_replicas": "1", "redis_wait_timeout_ms": "100"}
JUNK_MB = 48
"""More than a replica's socket buffers hold (Linux: a few MB each way), less than the
replica output buffer's soft limit (64 MB)."""


def _slot(prefix: str, which: str, chat_id: str = "") -> int:
    return slot_of(Keys(prefix).chat_log(chat_id) if which == "chat" else f"{prefix}:{{rt}}:events")


async def _healthy(hubs: Cluster, deadline: float) -> None:
    for url in hubs.urls:
        while True:
            with contextlib.suppress(OSError):
                status, _ = await http("GET", url + "/healthz")
                if status == 200:
                    break
            assert time.monotonic() < deadline, f"{url} did not recover"
            await asyncio.sleep(0.2)


async def _say(client: ChatClient, chat_id: str, text: str, deadline: float) -> dict[str, Any]:
    """Send until acknowledged (the same ``cid`` each time: stored once)."""
    cid = f"m{uuid.uuid4().hex[:12]}"
    while True:
        try:
            return await client.say(chat_id, text, cid=cid, timeout=scaled(5))
        except (ClientError, TimeoutError, ConnectionError):
            assert time.monotonic() < deadline, f"could not send {text!r} after the failover"
            await asyncio.sleep(0.3)


async def _failover_mid_chat(
    c: ValkeyCluster, url: str, which: str, *, first_seed: Node | None = None
) -> None:
    hubs = Cluster(url, n=2, **WAIT_ENV)
    clients: list[ChatClient] = []
    try:
        await hubs.start()
        agent = await ChatClient.agent(hubs.urls, await hubs.add_agent("alice"), reconnect=True)
        visitor = await ChatClient.visitor(hubs.urls[::-1], reconnect=True)
        clients += [agent, visitor]
        chat_id = await active_chat(agent, visitor)
        acked: dict[int, str] = {}
        for i in range(3):
            acked[(await visitor.say(chat_id, f"v{i}"))["seq"]] = f"v{i}"
            acked[(await agent.say(chat_id, f"a{i}"))["seq"]] = f"a{i}"
        await visitor.wait_messages(chat_id, 6)

        # the visitor keeps sending while the master dies: whatever is acknowledged counts
        stop = asyncio.Event()

        async def keep_sending() -> None:
            n = 0
            while not stop.is_set():
                text = f"during {n}"
                n += 1
                with contextlib.suppress(ClientError, TimeoutError, ConnectionError):
                    ack = await visitor.say(chat_id, text, timeout=scaled(3))
                    acked[ack["seq"]] = text
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(keep_sending())
        await asyncio.sleep(0.2)
        slot = _slot(hubs.prefix, which, chat_id)
        killed = c.kill_master(slot)
        if first_seed is not None:
            assert killed.port == first_seed.port
        new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
        assert new.port != killed.port
        deadline = time.monotonic() + scaled(30)
        await _healthy(hubs, deadline)
        await asyncio.sleep(0.5)
        stop.set()
        await sender

        # the chat goes on, both ways
        after_v = await _say(visitor, chat_id, "visitor after", deadline)
        after_a = await _say(agent, chat_id, "agent after", deadline)
        acked[after_v["seq"]] = "visitor after"
        acked[after_a["seq"]] = "agent after"

        # every acknowledged message is in the log, once, under its seq ...
        redis = hubs.redis()
        try:
            log = await redis.xrange(Keys(hubs.prefix).chat_log(chat_id))
        finally:
            await redis.aclose()
        stored = {int(i.split(b"-")[0]): f for i, f in log}
        lost = {seq: text for seq, text in acked.items() if seq not in stored}
        assert lost == {}, f"acknowledged and lost on failover: {lost}"
        # ... and both sides see all of them, in order, without repeats
        public = sorted(acked)
        for who in (visitor, agent):
            got = await who.wait_messages(chat_id, len(public), timeout=scaled(20))
            seqs = [m["seq"] for m in got]
            assert seqs == sorted(set(seqs))
            assert set(public) <= set(seqs)
            assert {m["seq"]: m["text"] for m in got if m["seq"] in acked} == acked
        assert visitor.duplicates == 0

        # routing goes on: a new chat is offered
        other = await ChatClient.visitor(hubs.urls[1])
        clients.append(other)
        chat2 = await other.start()
        await agent.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == chat2["id"], scaled(20)
        )
        # and the chat closes, with exactly one record
        await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"},
                            timeout=scaled(20))
        await visitor.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed", scaled(20)
        )
        record = await written_record(hubs, chat_id, within=20)
        assert record["outcome"] == "resolved"
        redis = hubs.redis()
        try:
            events = await redis.xrange(f"{hubs.prefix}:{{rt}}:events")
        finally:
            await redis.aclose()
        ends = [f for _, f in events if f[b"t"] == b"end" and f[b"chat"] == chat_id.encode()]
        assert len(ends) == 1
    except BaseException:
        for server in hubs.servers:  # shown by pytest when the test fails
            print(f"--- hub {server.url} ---\n{server.output()[-4000:]}")
        raise
    finally:
        await close_quietly(clients)
        hubs.stop()


@pytest.mark.timeout(180)
async def test_chat_master_killed_mid_chat_nothing_acknowledged_is_lost(
    valkey_cluster: ValkeyCluster, cluster_url_for: Callable[[Node | None], str]
) -> None:
    await _failover_mid_chat(valkey_cluster, cluster_url_for(None), "chat")


@pytest.mark.timeout(180)
async def test_routing_master_killed_mid_chat_chats_go_on(
    valkey_cluster: ValkeyCluster, cluster_url_for: Callable[[Node | None], str]
) -> None:
    await _failover_mid_chat(valkey_cluster, cluster_url_for(None), "rt")


@pytest.mark.timeout(180)
async def test_first_seed_master_killed_mid_chat_fan_out_follows(
    valkey_cluster: ValkeyCluster, cluster_url_for: Callable[[Node | None], str]
) -> None:
    """The routing slot's master is also the hubs' first seed (their pub/sub node)."""
    first = valkey_cluster.master_of_slot(_slot("any", "rt"))
    await _failover_mid_chat(valkey_cluster, cluster_url_for(first), "rt", first_seed=first)


async def _unreplicated(hubs: Cluster) -> float:
    """``chat_messages_unreplicated_total`` summed over the hub processes."""
    total = 0.0
    for url in hubs.urls:
        status, body = await asyncio.to_thread(_get, url + "/metrics")
        assert status == 200
        for line in body.splitlines():
            if line.startswith("chat_messages_unreplicated_total "):
                total += float(line.split()[1])
    return total


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return int(resp.status), resp.read().decode()


def _away_from_routing(c: ValkeyCluster, prefix: str, slot: int) -> None:
    """Move ``slot`` (with its keys) to another master if the routing slot's master serves
    it: the case where the chat's master fails over and the routing slot's does not."""
    rt = c.master_of_slot(_slot(prefix, "rt"))
    if c.master_of_slot(slot).port != rt.port:
        return
    others = {c.master_of_slot(s).port for s in range(0, SLOTS, 512)} - {rt.port}
    c.migrate_slot(slot, c.node_at(min(others)))


async def _lossy_failover(
    c: ValkeyCluster, url_for: Callable[[Node | None], str], *, check_seq: bool
) -> None:
    """The loss window, made to happen: the chat slot's replica is frozen (SIGSTOP), so
    each ``WAIT`` times out and the message is acknowledged unreplicated (counted); the
    master dies, the frozen replica resumes and is promoted without those messages.
    Exactly the counted messages are lost, and the chat goes on; with ``check_seq``, no
    sequence number a client saw is given to another message, so both sides see it."""
    # the hubs' pub/sub node (the first seed) is the routing master's replica: never the
    # chat master's replica, which is frozen below (the chat slot is kept off that master)
    (pubsub_node,) = c.replicas_of(c.master_of_slot(_slot("any", "rt")))
    hubs = Cluster(url_for(pubsub_node), n=2, **WAIT_ENV)
    clients: list[ChatClient] = []
    frozen: Node | None = None
    try:
        await hubs.start()
        agent = await ChatClient.agent(hubs.urls, await hubs.add_agent("alice"), reconnect=True)
        visitor = await ChatClient.visitor(hubs.urls[::-1], reconnect=True)
        clients += [agent, visitor]
        chat_id = await active_chat(agent, visitor)
        kept = [(await visitor.say(chat_id, f"kept {i}"))["seq"] for i in range(2)]
        assert await _unreplicated(hubs) == 0
        slot = _slot(hubs.prefix, "chat", chat_id)
        await asyncio.to_thread(_away_from_routing, c, hubs.prefix, slot)
        master = c.master_of_slot(slot)
        (frozen,) = c.replicas_of(master)
        frozen.server._process.send_signal(signal.SIGSTOP)
        # a frozen replica's kernel still takes in what the master sends, up to its socket
        # buffers: fill them (a key of the test's own, in the chat's slot) so that what
        # follows stays in the master's memory alone
        junk = f"{hubs.prefix}:{{c:{chat_id}}}:junk"
        with master.client(timeout=10) as direct:
            for _ in range(JUNK_MB // 4):
                direct.append(junk, b"x" * (4 << 20))
        unsafe = [(await visitor.say(chat_id, f"unsafe {i}"))["seq"] for i in range(3)]
        assert await _unreplicated(hubs) == len(unsafe)
        await agent.wait_messages(chat_id, len(kept) + len(unsafe))
        killed = c.kill_master(slot)
        frozen.server._process.send_signal(signal.SIGCONT)
        new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
        assert new.port == frozen.port
        frozen = None
        deadline = time.monotonic() + scaled(30)
        await _healthy(hubs, deadline)
        redis = hubs.redis()
        try:
            log = await redis.xrange(Keys(hubs.prefix).chat_log(chat_id))
        finally:
            await redis.aclose()
        stored = {int(i.split(b"-")[0]) for i, _ in log}
        assert set(kept) <= stored
        assert [seq for seq in unsafe if seq not in stored] == unsafe  # the counted ones
        after = await _say(visitor, chat_id, "after the failover", deadline)
        redis = hubs.redis()
        try:
            assert await redis.xrange(Keys(hubs.prefix).chat_log(chat_id), after["seq"],
                                      after["seq"])
        finally:
            await redis.aclose()
        if check_seq:
            assert after["seq"] > max(unsafe)  # no seq a client saw is reused
            got = await agent.wait_messages(chat_id, len(kept) + len(unsafe) + 1,
                                            timeout=scaled(20))
            assert got[-1]["text"] == "after the failover"
        redis = hubs.redis()
        try:
            await redis.delete(junk)
        finally:
            await redis.aclose()
    finally:
        if frozen is not None and frozen.server is not None:
            frozen.server._process.send_signal(signal.SIGCONT)
        await close_quietly(clients)
        hubs.stop()


@pytest.mark.timeout(180)
async def test_a_lagging_replica_bounds_the_loss_to_the_counted_messages(
    valkey_cluster: ValkeyCluster, cluster_url_for: Callable[[Node | None], str]
) -> None:
    await _lossy_failover(valkey_cluster, cluster_url_for, check_seq=False)


@pytest.mark.timeout(180)
async def test_after_a_lossy_failover_no_sequence_number_is_reused(
    valkey_cluster: ValkeyCluster, cluster_url_for: Callable[[Node | None], str]
) -> None:
    await _lossy_failover(valkey_cluster, cluster_url_for, check_seq=True)


# ---- the cost of REDIS_WAIT_REPLICAS, as counts ------------------------------------------


async def _post_counts(url: str, want: int, posts: int = 10) -> tuple[float, float, int]:
    """Commands and round trips per stored message, and the last ``WAIT`` reply (-1 when
    not waited)."""
    keys = Keys(f"fw{uuid.uuid4().hex[:8]}")
    settings = Settings(key_prefix=keys.prefix, redis_wait_replicas=want)
    redis = connect(url)
    try:
        store = MessageStore(redis, keys, Scripts(redis), settings)
        chat_id = "c1"
        await store.open_chat(chat_id, ["visitor:v"])

        async def post(i: int) -> str:
            result = await store.post(
                chat_id, role="visitor", sender_id="v", sender_name="V", cid=f"m{i}",
                text=f"hello {i}", kind="message", audience=EVERYONE, now_ms=1_800_000_000_000,
            )
            return result.status

        assert await post(0) == "ok"  # the script is loaded, every connection open
        commands, writes = redis.mux.commands, redis.mux.writes
        for i in range(1, posts + 1):
            assert await post(i) == "ok"
        per_command = (redis.mux.commands - commands) / posts
        per_write = (redis.mux.writes - writes) / posts
        replicas = await store.wait_replicas(chat_id) if want else -1
        return per_command, per_write, replicas
    finally:
        await redis.aclose()


@pytest.mark.timeout(60)
async def test_waiting_for_the_replica_costs_one_round_trip_per_message(
    cluster_redis_url: str,
) -> None:
    assert await _post_counts(cluster_redis_url, 0) == (1, 1, -1)
    assert await _post_counts(cluster_redis_url, 1) == (2, 2, 1)


@pytest.mark.timeout(60)
async def test_without_a_replica_the_message_is_acknowledged_and_counted(
    redis_url: str,
) -> None:
    """One Valkey has no replica: each ``WAIT`` returns 0 after its timeout, the message is
    still acknowledged, and ``chat_messages_unreplicated_total`` counts it."""
    before = REGISTRY.get_sample_value("chat_messages_unreplicated_total") or 0.0
    per_command, per_write, replicas = await _post_counts(redis_url, 1, posts=3)
    assert (per_command, per_write, replicas) == (2, 2, 0)
    after = REGISTRY.get_sample_value("chat_messages_unreplicated_total") or 0.0
    assert after - before == 5  # the warm-up post, three posts and the last WAIT


