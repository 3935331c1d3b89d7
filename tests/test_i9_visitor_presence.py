"""Issue 9, items 4, 5, 10 and 11 through real `chatserver serve` processes and real
clients: a gone visitor's chat ends whatever states it went through, after exactly the
documented grace (on any process, or after its process was killed), an offline message is
a chat like any other ended one, and re-queued chats keep their age order.

The scripts that keep visitor presence in Redis are also checked against the pure model
(``core/presence.py``) on a real Valkey.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.client import ChatClient, ClientError
from chatserver.core import presence as pr
from chatserver.settings import Settings
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts
from chatserver.store.visitors import VisitorStore
from tests.harness import Cluster, scaled, written_record
from tests.test_flows_chat import chat_hash, close_all, open_chat, running


async def queue(cluster: Cluster, topic: str = "general") -> list[str]:
    r = cluster.redis()
    try:
        members = await r.zrange(f"{cluster.prefix}:{{rt}}:queue:{topic}", 0, -1)
    finally:
        await r.aclose()
    return [m.decode() for m in members]


async def history(cluster: Cluster, chat_id: str) -> list[str]:
    r = cluster.redis()
    try:
        entries = await r.lrange(f"{cluster.prefix}:{{rt}}:chat:{chat_id}:history", 0, -1)
    finally:
        await r.aclose()
    return [e.decode().split("|", 1)[0] for e in entries]


async def ended(cluster: Cluster, chat_id: str, within: float) -> dict[str, str]:
    """The chat's hash once it has ended; fails if that takes longer than ``within``."""
    deadline = time.monotonic() + scaled(within)
    while True:
        chat = await chat_hash(cluster, chat_id)
        if chat.get("state") in ("closed", "abandoned", "missed"):
            return chat
        assert time.monotonic() < deadline, f"{chat_id} still {chat.get('state')}"
        await asyncio.sleep(0.05)


def offer_of(chat_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id


def at_position(chat_id: str, position: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "queue" and f["chat"] == chat_id and f["position"] == position


def offers(client: ChatClient, chat_id: str) -> int:
    return sum(
        1 for f in client.frames if f["type"] == "offer" and f["chat"]["id"] == chat_id
    )


# ---- item 4 ------------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_i9_04_active_chat_of_gone_visitor_is_closed_not_requeued(redis_url: str) -> None:
    # The visitor's grace ends while the chat is still active (its agent's console closed
    # too, and their offline grace is longer): the chat closes as visitor_left, and is not
    # offered to anyone when the agent's grace ends.  (Before: the "visitor left" timer was
    # dropped because the chat was active, and the chat was re-queued and offered.)
    async with running(
        redis_url, n=2, visitor_leave_grace_s="2", offline_grace_s="4", presence_ttl_s="3",
    ) as cl:
        alice = await cl.agent(await cl.add_agent("alice", capacity=1))
        v = await cl.visitor(server=0)
        chat = await open_chat(alice, v)
        bob = await cl.agent(await cl.add_agent("bob", capacity=1))
        # a visitor back within the grace, on another process, keeps the chat
        await v.close()
        await asyncio.sleep(0.5)
        v = await ChatClient.visitor(cl.urls[1], token=v.token)
        assert v.welcome["chat"]["id"] == chat
        await asyncio.sleep(scaled(3))
        assert (await chat_hash(cl, chat))["state"] == "active"
        # gone for good
        await v.close()
        await alice.close()
        hashed = await ended(cl, chat, 2 + 2.5)
        assert hashed["state"] == "closed"
        assert hashed["outcome"] == "visitor_left" and hashed["ended_by"] == "system"
        await asyncio.sleep(scaled(4))  # past alice's offline grace
        assert offers(bob, chat) == 0
        assert "requeue" not in await history(cl, chat)
        rec = await written_record(cl, chat, 15)
        assert rec["end_state"] == "closed" and rec["outcome"] == "visitor_left"
        await close_all(bob)


@pytest.mark.timeout(60)
async def test_i9_04_requeued_chat_of_gone_visitor_is_abandoned(redis_url: str) -> None:
    # active -> (agent gone) re-queued -> offered to another agent -> the visitor's grace
    # ends: abandoned, visitor_left, the offer withdrawn.  (Before: the presence TTL, 30 s
    # here, kept postponing it while the chat was offered as if live.)
    async with running(
        redis_url, visitor_leave_grace_s="3", offline_grace_s="1", presence_ttl_s="30",
    ) as cl:
        alice = await cl.agent(await cl.add_agent("alice", capacity=1))
        v = await cl.visitor()
        chat = await open_chat(alice, v)
        bob = await cl.agent(await cl.add_agent("bob", capacity=1))
        await v.close()
        await alice.close()
        offer = await bob.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == chat, scaled(4)
        )
        assert offer["chat"]["state"] == "offered"
        hashed = await ended(cl, chat, 3 + 2)
        assert hashed["state"] == "abandoned"
        assert hashed["outcome"] == "visitor_left" and hashed["ended_by"] == "system"
        assert await history(cl, chat) == [
            "created", "offer", "accept", "requeue", "offer", "end"
        ]
        await bob.wait_for(lambda f: f["type"] in ("ended", "revoked") and f["chat"] == chat)
        rec = await written_record(cl, chat, 15)
        assert rec["end_state"] == "abandoned" and rec["outcome"] == "visitor_left"
        assert rec["accepted_at"] is not None
        await close_all(bob)


@pytest.mark.timeout(60)
async def test_i9_04_visitor_on_a_killed_process_is_ended_after_ttl_and_grace(
    redis_url: str,
) -> None:
    # A killed process closes nothing: the visitor's socket ends when its presence expires
    # (PRESENCE_TTL_S after the last heartbeat), and the grace runs from there.
    async with running(
        redis_url, n=2, visitor_leave_grace_s="2", presence_ttl_s="3", heartbeat_interval_s="1",
    ) as cl:
        alice = await cl.agent(await cl.add_agent("alice", capacity=1), server=0)
        v = await cl.visitor(server=1)
        chat = await open_chat(alice, v)
        cl.servers[1].kill()
        await v.close()
        hashed = await ended(cl, chat, 3 + 2 + 3)
        assert hashed["state"] == "closed" and hashed["outcome"] == "visitor_left"
        ended_frame = await alice.wait_for(
            lambda f: f["type"] == "ended" and f["chat"] == chat, scaled(3)
        )
        assert ended_frame["by"] == "system"
        await close_all(alice)


# ---- item 5 ------------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_i9_05_abandoned_after_the_grace_not_the_presence_ttl(redis_url: str) -> None:
    async with running(
        redis_url, visitor_leave_grace_s="2", presence_ttl_s="30", heartbeat_interval_s="1",
    ) as cl:
        v = await cl.visitor()
        chat = (await v.start())["id"]
        await v.close()
        await asyncio.sleep(1.0)  # the grace (2 s) counts from the close: not yet
        assert (await chat_hash(cl, chat))["state"] == "queued"
        hashed = await ended(cl, chat, 1 + 1.5)  # before: 30 s + 2 s
        assert hashed["state"] == "abandoned" and hashed["outcome"] == "visitor_left"


@pytest.mark.timeout(60)
async def test_i9_05_grace_holds_when_the_last_socket_was_on_another_process(
    redis_url: str,
) -> None:
    async with running(
        redis_url, n=2, visitor_leave_grace_s="2", presence_ttl_s="30",
        heartbeat_interval_s="1",
    ) as cl:
        first = await cl.visitor(server=0)
        second = await ChatClient.visitor(cl.urls[1], token=first.token)
        chat = (await first.start())["id"]
        await first.close()  # still present on process 1
        await asyncio.sleep(scaled(3))
        assert (await chat_hash(cl, chat))["state"] == "queued"
        await second.close()  # the last socket, on the other process
        await asyncio.sleep(1.0)
        assert (await chat_hash(cl, chat))["state"] == "queued"
        hashed = await ended(cl, chat, 1 + 1.5)
        assert hashed["state"] == "abandoned" and hashed["outcome"] == "visitor_left"


@pytest.mark.timeout(90)
async def test_i9_05_an_outage_longer_than_ttl_and_grace_does_not_count(
    redis_url: str,
) -> None:
    # Every process down for longer than PRESENCE_TTL_S + VISITOR_LEAVE_GRACE_S: nobody
    # could reconnect, so the visitor gets a whole grace from the restart to come back.
    # (Before: the chat was abandoned at the first timer pass after the restart.)
    async with running(
        redis_url, visitor_leave_grace_s="4", presence_ttl_s="2", heartbeat_interval_s="0.5",
    ) as cl:
        v = await cl.visitor()
        chat = (await v.start())["id"]
        server = cl.servers[0]
        await asyncio.to_thread(server.terminate)
        server.log.close()
        await v.close()
        await asyncio.sleep(8)  # > ttl + grace with nothing serving
        await asyncio.to_thread(server.start)
        await asyncio.sleep(1.0)  # the timers run again; the grace counts from now
        back = await ChatClient.visitor(cl.urls[0], token=v.token)
        assert back.welcome["chat"] is not None and back.welcome["chat"]["id"] == chat
        assert back.welcome["chat"]["state"] == "queued"
        await back.close()
        # and gone for good now: the grace counts from this close
        hashed = await ended(cl, chat, 4 + 2)
        assert hashed["state"] == "abandoned" and hashed["outcome"] == "visitor_left"


# ---- item 10 -----------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_i9_10_frames_naming_an_offline_chat_get_errors_and_the_socket_stays(
    single: Cluster,
) -> None:
    v = await single.visitor()
    reply = await v.request(
        {"type": "offline", "email": "late@example.com", "text": "call me back"}
    )
    chat = reply["chat"]
    assert (await chat_hash(single, chat))["state"] == "offline"
    with pytest.raises(ClientError) as refused:
        await v.request({"type": "resume", "chat": chat, "after": 0})
    assert refused.value.code == "invalid_state"
    assert "offline message" in str(refused.value)
    for frame in (
        {"type": "leave", "chat": chat},
        {"type": "msg", "chat": chat, "cid": "m1", "text": "hello?"},
    ):
        with pytest.raises(ClientError) as refused:
            await v.request(frame)
        assert refused.value.code == "invalid_state", frame
    await v.request({"type": "history", "chat": chat, "limit": 10})
    pong = await v.request({"type": "ping"})  # still connected
    assert pong["type"] == "pong"
    await close_all(v)


# ---- item 11 -----------------------------------------------------------------------------
@pytest.mark.timeout(60)
async def test_i9_11_requeued_chats_keep_oldest_first_order_at_the_front(
    single: Cluster,
) -> None:
    agent = await single.agent(await single.add_agent("dana", capacity=3))
    visitors = [await single.visitor() for _ in range(4)]
    chats = []
    for v in visitors[:3]:
        chat = (await v.start())["id"]
        await agent.wait_for(offer_of(chat))
        chats.append(chat)
        await asyncio.sleep(0.01)  # distinct creation times
    c1, c2, c3 = chats
    for chat in (c3, c2, c1):  # released newest first
        await agent.request({"type": "decline", "chat": chat})
    await agent.request({"type": "status", "status": "away"})
    c4 = (await visitors[3].start())["id"]
    assert await queue(single) == [c1, c2, c3, c4]
    for v, chat, position in zip(visitors, [c1, c2, c3, c4], range(1, 5), strict=True):
        await v.wait_for(at_position(chat, position), scaled(5))
    await close_all(agent, *visitors)


# ---- the presence scripts against the pure model ----------------------------------------
TTL_MS, GRACE_MS = 3_000, 2_000
trace = st.lists(
    st.tuples(
        st.sampled_from(["connect", "disconnect", "heartbeat", "wait"]),
        st.integers(0, 2),
        st.integers(0, 4_000),
    ),
    max_size=15,
)


@pytest.mark.timeout(120)
async def test_i9_05_presence_scripts_follow_the_model(redis_url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    keys = Keys("i9p")
    store = VisitorStore(
        client, keys, Scripts(client),
        Settings(presence_ttl_s=TTL_MS / 1000, visitor_leave_grace_s=GRACE_MS / 1000),
    )
    loop = asyncio.get_running_loop()
    runs = 0

    async def check(steps: list[tuple[str, int, int]]) -> None:
        nonlocal runs
        runs += 1
        visitor = f"v{runs}"
        await client.hset(keys.visitor(visitor), "chat", "c1")  # only they are marked
        model = pr.VisitorPresence()
        now = 1_000_000
        opened: set[str] = set()
        for kind, n, later in steps:
            now += later
            conn = f"c{n}"
            if kind == "connect" and conn not in opened:
                opened.add(conn)
                model = pr.connect(model, conn, now, TTL_MS)
                await store.connect(visitor, conn, now)
            elif kind == "disconnect" and conn in opened:
                opened.discard(conn)
                model = pr.disconnect(model, conn, now)
                await store.disconnect(visitor, conn, now)
            elif kind == "heartbeat" and conn in opened:
                model = pr.heartbeat(model, [conn], now, TTL_MS)
                await store.heartbeat({visitor: [conn]}, now)
            # the timers' sweep, when the visitor's newest connection expiry has passed
            if visitor in await store.due_sweeps(now, limit=10_000):
                model = pr.sweep(model, now)
                await store.sweep(visitor, now)
            conns, gone = await store.state(visitor)
            assert {c: e for c, e in conns.items() if e > now} == model.live(now)
            assert gone == model.gone_at(now, GRACE_MS), (steps, kind, conn, now)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(trace)
    def run(steps: list[tuple[str, int, int]]) -> None:
        asyncio.run_coroutine_threadsafe(check(steps), loop).result()

    try:
        await asyncio.to_thread(run)
    finally:
        await client.delete(*[k async for k in client.scan_iter("i9p:*")] or ["i9p:none"])
        await client.aclose()
