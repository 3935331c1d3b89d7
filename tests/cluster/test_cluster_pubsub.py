"""Sharded pub/sub on a real Valkey Cluster (``chatserver/store/cluster/pubsub.py``, through
``hub/fanout.py``): messages published by the scripts (``SPUBLISH``) of chats on every
master reach their subscribers; a subscription follows its slot when the master is killed
(its replica promoted) or the slot migrates, and ``on_reconnect`` runs so connections
catch up; a master's pub/sub connection is closed when nothing is left on it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chatserver.hub.fanout import Fanout
from chatserver.settings import Settings
from chatserver.store.cluster import ClusterRedis
from chatserver.store.cluster.pubsub import ShardedSubscriber
from chatserver.store.keys import Keys
from chatserver.store.messages import MessageStore
from chatserver.store.publish import Publisher
from chatserver.store.redis_conn import connect
from chatserver.store.scripts import Scripts
from tests.cluster.harness import Node, ValkeyCluster, slot_of
from tests.harness import scaled


def cluster_url(c: ValkeyCluster) -> str:
    return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in c.seed_hosts[:2]) + "/0"


@dataclass(eq=False)
class Inbox:
    """A listener: what arrived on each channel."""

    got: dict[str, list[bytes]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def on_publish(self, channel: str, data: bytes) -> None:
        self.got.setdefault(channel, []).append(data)
        self.arrived.set()

    async def wait_for(self, channel: str, count: int = 1) -> list[bytes]:
        while len(self.got.get(channel, ())) < count:
            self.arrived.clear()
            await self.arrived.wait()
        return self.got[channel]


@dataclass
class Hub:
    """What a hub process has: a cluster client, the fan-out, the message store."""

    redis: ClusterRedis
    fanout: Fanout
    messages: MessageStore
    keys: Keys
    reconnects: int = 0
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sharded(self) -> ShardedSubscriber:
        transport = self.fanout.transport
        assert isinstance(transport, ShardedSubscriber)
        return transport

    async def post(self, chat_id: str, text: str) -> int:
        await self.redis.hset(
            self.keys.chat_meta(chat_id), mapping={"open": "1", "p:agent:ann": "1"}
        )
        result = await self.messages.post(
            chat_id,
            role="agent",
            sender_id="ann",
            sender_name="Ann",
            cid=uuid.uuid4().hex,
            text=text,
            kind="message",
            audience="a",
            now_ms=1,
        )
        assert result.status == "ok", result
        return result.seq


@contextlib.asynccontextmanager
async def hub(c: ValkeyCluster) -> AsyncIterator[Hub]:
    redis = connect(cluster_url(c))
    assert isinstance(redis, ClusterRedis)
    keys = Keys(prefix=f"ps{uuid.uuid4().hex[:6]}")
    box: list[Hub] = []

    async def on_reconnect() -> None:
        box[0].reconnects += 1
        box[0].caught_up.set()

    fanout = Fanout(redis, keys.queue_channel, on_reconnect)
    h = Hub(redis, fanout, MessageStore(redis, keys, Scripts(redis), Settings()), keys)
    box.append(h)
    try:
        await fanout.start()
        yield h
    finally:
        await fanout.stop()
        await redis.aclose()


def chats_on(c: ValkeyCluster, keys: Keys, master: Node, n: int = 1) -> list[str]:
    """``n`` chat ids whose slot ``master`` serves."""
    out = []
    for i in itertools.count():
        chat = f"chat-{i}"
        if c.master_of_key(keys.chat_log(chat)).port == master.port:
            out.append(chat)
            if len(out) == n:
                return out
    raise AssertionError("unreachable")


def masters(c: ValkeyCluster) -> list[Node]:
    ports = sorted({c.master_of_slot(s).port for s in range(0, 16384, 512)})
    return [c.node_at(p) for p in ports]


async def test_scripts_publish_to_subscribers_on_every_master(
    valkey_cluster: ValkeyCluster,
) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(30)), hub(c) as h:
        inbox = Inbox()
        owners = masters(c)
        assert len(owners) == 3
        chats = [chats_on(c, h.keys, m)[0] for m in owners]
        assert len({slot_of(h.keys.chat_channel(chat)) for chat in chats}) == 3
        for chat in chats:
            await h.fanout.subscribe(h.keys.chat_channel(chat), inbox)
        # one pub/sub connection per master owning a subscribed channel, each on its own
        assert {port for _, port in h.sharded.links} == {m.port for m in owners}
        for m, chat in zip(owners, chats, strict=True):
            assert h.keys.chat_channel(chat) in h.sharded.channels_at(("127.0.0.1", m.port))
        # the post script publishes (SPUBLISH) on the chat's master
        for chat in chats:
            seq = await h.post(chat, f"hello {chat}")
            (frame,) = await inbox.wait_for(h.keys.chat_channel(chat))
            assert frame.startswith(f"a{seq}|".encode())
        # a plain PUBLISH through the client is sent as SPUBLISH, on any channel
        publisher = Publisher(h.redis, h.keys)
        await h.fanout.subscribe(h.keys.agent_channel("ann"), inbox)
        await publisher.agent("ann", b"ctl")
        assert await inbox.wait_for(h.keys.agent_channel("ann")) == [b"ctl"]
        # and a routing-slot script (notice) publishes on the notice channel
        await h.fanout.subscribe(h.keys.notice_channel, inbox)
        scripts = Scripts(h.redis)
        assert scripts.publish == "SPUBLISH"
        await scripts.call(
            "notice_end",
            notices=h.keys.notices,
            expiry=h.keys.notices_expiry,
            channel=h.keys.notice_channel,
            notice_id="n1",
            frame=b"end",
        )  # no notice n1: nothing published
        await h.redis.hset(h.keys.notices, "n1", "{}")
        await scripts.call(
            "notice_end",
            notices=h.keys.notices,
            expiry=h.keys.notices_expiry,
            channel=h.keys.notice_channel,
            notice_id="n1",
            frame=b"end",
        )
        assert await inbox.wait_for(h.keys.notice_channel) == [b"end"]
        assert h.reconnects == 0


async def test_a_subscription_survives_its_master_being_killed(
    valkey_cluster: ValkeyCluster,
) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(60)), hub(c) as h:
        inbox = Inbox()
        home = c.master_of_key(h.keys.queue_channel)
        victim = next(m for m in masters(c) if m.port != home.port)
        (chat,) = chats_on(c, h.keys, victim)
        channel = h.keys.chat_channel(chat)
        await h.fanout.subscribe(channel, inbox)
        await h.post(chat, "before")
        await inbox.wait_for(channel, 1)

        slot = slot_of(channel)
        killed = c.kill_master(slot)
        new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
        # the lost subscription is placed on the promoted replica, then connections
        # catch up from the log
        await h.caught_up.wait()
        assert h.reconnects == 1
        assert channel in h.sharded.channels_at(("127.0.0.1", new.port))
        assert ("127.0.0.1", killed.port) not in h.sharded.links
        assert h.fanout.connected.is_set()
        await h.post(chat, "after")
        frames = await inbox.wait_for(channel, 2)
        assert b"after" in frames[1]


async def test_a_slot_migration_moves_the_subscription(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(60)), hub(c) as h:
        inbox = Inbox()
        home = c.master_of_key(h.keys.queue_channel)
        source = next(m for m in masters(c) if m.port != home.port)
        target = next(m for m in masters(c) if m.port not in (source.port, home.port))
        (chat,) = chats_on(c, h.keys, source)
        channel = h.keys.chat_channel(chat)
        await h.fanout.subscribe(channel, inbox)
        await h.post(chat, "before")
        await inbox.wait_for(channel, 1)

        # the source master drops the subscription (sunsubscribe) when the slot goes
        await asyncio.to_thread(c.migrate_slot, slot_of(channel), target)
        await h.caught_up.wait()
        assert h.reconnects == 1
        assert channel in h.sharded.channels_at(("127.0.0.1", target.port))
        # nothing else was on the source's connection: it is closed
        assert ("127.0.0.1", source.port) not in h.sharded.links
        await h.post(chat, "after")
        frames = await inbox.wait_for(channel, 2)
        assert b"after" in frames[1]


async def test_unsubscribing_frees_a_masters_connection(valkey_cluster: ValkeyCluster) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(30)), hub(c) as h:
        inbox = Inbox()
        home = c.master_of_key(h.keys.queue_channel)
        other = next(m for m in masters(c) if m.port != home.port)
        address = ("127.0.0.1", other.port)
        first, second = chats_on(c, h.keys, other, 2)
        assert set(h.sharded.links) == {("127.0.0.1", home.port)}
        await h.fanout.subscribe(h.keys.chat_channel(first), inbox)
        await h.fanout.subscribe(h.keys.chat_channel(second), inbox)
        assert h.sharded.channels_at(address) == {
            h.keys.chat_channel(first),
            h.keys.chat_channel(second),
        }
        connects = h.fanout.connects
        # one channel left: the connection stays, and still delivers
        await h.fanout.unsubscribe(h.keys.chat_channel(first), inbox)
        assert h.sharded.channels_at(address) == {h.keys.chat_channel(second)}
        await h.post(second, "still here")
        await inbox.wait_for(h.keys.chat_channel(second))
        # none left: it is closed once the master confirmed the unsubscribe; the home
        # channel's connection stays
        link = h.sharded.links[address]
        await h.fanout.unsubscribe(h.keys.chat_channel(second), inbox)
        assert link.task is not None
        await asyncio.wait({link.task})
        assert address not in h.sharded.links
        assert ("127.0.0.1", home.port) in h.sharded.links
        # subscribing there again opens a new one
        await h.fanout.subscribe(h.keys.chat_channel(first), inbox)
        assert h.fanout.connects == connects + 1
        assert h.sharded.channels_at(address) == {h.keys.chat_channel(first)}
        await h.post(first, "again")
        await inbox.wait_for(h.keys.chat_channel(first))
        assert h.reconnects == 0


async def test_a_subscription_made_while_its_master_is_down_is_placed_after_failover(
    valkey_cluster: ValkeyCluster,
) -> None:
    c = valkey_cluster
    async with asyncio.timeout(scaled(60)), hub(c) as h:
        inbox = Inbox()
        home = c.master_of_key(h.keys.queue_channel)
        victim = next(m for m in masters(c) if m.port != home.port)
        first, second = chats_on(c, h.keys, victim, 2)
        await h.fanout.subscribe(h.keys.chat_channel(first), inbox)
        slot = slot_of(h.keys.chat_channel(second))
        killed = c.kill_master(slot)
        # the master is gone and its replica not promoted yet: the subscription waits
        # (retried on each new slot map), and subscribe returns once it is confirmed
        # on the promoted replica (or after its confirmation timeout)
        subscribing = asyncio.create_task(h.fanout.subscribe(h.keys.chat_channel(second), inbox))
        new = await asyncio.to_thread(c.wait_for_failover, slot, killed)
        await subscribing
        await h.caught_up.wait()
        assert h.reconnects == 1
        assert h.sharded.channels_at(("127.0.0.1", new.port)) == {
            h.keys.chat_channel(first),
            h.keys.chat_channel(second),
        }
        await h.post(second, "after")
        assert b"after" in (await inbox.wait_for(h.keys.chat_channel(second)))[0]
        await h.post(first, "after")
        assert b"after" in (await inbox.wait_for(h.keys.chat_channel(first)))[0]
