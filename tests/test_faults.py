"""Faults the product must survive (SECURITY.md, "Faults"): dropped connections, killed
processes, a restarted Redis, races between processes, slow consumers, shutdown."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time

import pytest

from chatserver.client import ChatClient, ClientError, Refused, http
from tests.harness import Cluster, Valkey, active_chat, close_quietly, scaled


async def _agent_status(cluster: Cluster, agent_id: str) -> dict[str, object]:
    live = next(s for s in cluster.servers if s.proc is not None and s.proc.poll() is None)
    status, body = await http(
        "GET", f"{live.url}/api/agents/{agent_id}", token=cluster.admin_token
    )
    assert status == 200
    return dict(body)


@pytest.mark.timeout(60)
async def test_fault_agent_connection_killed_chats_requeued_after_grace(cluster: Cluster) -> None:
    alice = await cluster.agent(await cluster.add_agent("alice"), server=0)
    visitor = await cluster.visitor(server=1)
    chat_id = await active_chat(alice, visitor)
    await alice.drop()  # no close handshake: a dead network
    # still within the grace period: the chat stays with alice
    await asyncio.sleep(0.3)
    frames_before = len(visitor.frames)
    # after the grace period (2 s) the chat goes back to the queue, front first
    requeued = await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "queued", scaled(10),
        since=frames_before,
    )
    assert requeued["chat"]["agent"] is None
    assert (await _agent_status(cluster, "alice"))["status"] == "offline"
    bob = await cluster.agent(await cluster.add_agent("bob"), server=0)
    offer = await bob.wait_for(lambda f: f["type"] == "offer", scaled(10))
    assert offer["chat"]["id"] == chat_id
    for c in (bob, visitor):
        await c.close()


@pytest.mark.timeout(60)
async def test_fault_agent_back_within_grace_keeps_chats(cluster: Cluster) -> None:
    token = await cluster.add_agent("alice")
    alice = await cluster.agent(token, server=0)
    visitor = await cluster.visitor(server=1)
    chat_id = await active_chat(alice, visitor)
    await alice.drop()
    again = await cluster.agent(token, server=1)  # the other process, within the grace
    assert [c["id"] for c in again.welcome["chats"]] == [chat_id]
    await asyncio.sleep(scaled(3))  # longer than the grace period
    assert (await _agent_status(cluster, "alice"))["status"] == "online"
    await again.request({"type": "resume", "chat": chat_id, "after": 0})
    await again.say(chat_id, "still here")
    got = await visitor.wait_messages(chat_id, 1)
    assert got[-1]["text"] == "still here"
    for c in (again, visitor):
        await c.close()


@pytest.mark.timeout(60)
async def test_fault_visitor_reconnects_and_resumes_exactly_what_it_missed(
    cluster: Cluster,
) -> None:
    agent = await cluster.agent(await cluster.add_agent("alice"), server=0)
    visitor = await cluster.visitor(server=1)
    chat_id = await active_chat(agent, visitor)
    for i in range(3):
        await visitor.say(chat_id, f"before {i}")
    await agent.say(chat_id, "answer 0")
    await visitor.wait_messages(chat_id, 4)
    last = visitor.last_seq[chat_id]
    token = visitor.token
    await visitor.drop()
    for i in range(1, 6):
        await agent.say(chat_id, f"answer {i}")
    again = await ChatClient.visitor(cluster.urls[0], token=token)
    assert again.welcome["visitor"] == visitor.welcome["visitor"]
    assert again.welcome["chat"]["id"] == chat_id
    assert "token" not in again.welcome  # a known visitor is not given a new token
    again.last_seq[chat_id] = last
    await again.request({"type": "resume", "chat": chat_id, "after": last})
    got = await again.wait_messages(chat_id, 5)
    assert [m["text"] for m in got] == [f"answer {i}" for i in range(1, 6)]
    assert [m["seq"] for m in got] == list(range(last + 1, last + 6))
    await asyncio.sleep(0.2)
    assert again.duplicates == 0 and len(again.messages[chat_id]) == 5
    for c in (agent, again):
        await c.close()


@pytest.mark.timeout(60)
async def test_fault_duplicate_send_is_stored_once(cluster: Cluster) -> None:
    agent = await cluster.agent(await cluster.add_agent("alice"), server=0)
    visitor = await cluster.visitor(server=1)
    chat_id = await active_chat(agent, visitor)
    first = await visitor.say(chat_id, "only once", cid="same-id")
    visitor.acks.pop("same-id")
    second = await visitor.say(chat_id, "only once", cid="same-id")
    assert (first["seq"], first["dup"]) == (second["seq"], False) or second["dup"] is True
    assert second["seq"] == first["seq"] and second["dup"] is True
    await agent.say(chat_id, "after")
    got = await agent.wait_messages(chat_id, 2)
    assert [m["text"] for m in got] == ["only once", "after"]
    for c in (agent, visitor):
        await c.close()


@pytest.mark.timeout(90)
async def test_fault_server_process_killed_clients_continue_on_the_other(
    cluster: Cluster,
) -> None:
    agent = await ChatClient.agent(
        [cluster.urls[1], cluster.urls[0]], await cluster.add_agent("alice"), reconnect=True
    )
    visitor = await ChatClient.visitor([cluster.urls[0], cluster.urls[1]], reconnect=True)
    chat_id = await active_chat(agent, visitor)
    await visitor.say(chat_id, "v1")
    await agent.wait_messages(chat_id, 1)
    cluster.servers[0].kill()  # the visitor's process dies with the chat live
    # the agent (on the surviving process) keeps talking meanwhile
    for i in range(3):
        await agent.say(chat_id, f"a{i}")
    # a message the visitor sends while disconnected is kept and resent after reconnect
    with contextlib.suppress(ConnectionError):
        await visitor.say_nowait(chat_id, "sent while down", cid="offline-1")
    visitor.unacked["offline-1"] = (chat_id, "sent while down", False)
    got = await visitor.wait_messages(chat_id, 5, timeout=scaled(20))
    texts = [m["text"] for m in got]
    assert texts[:4] == ["v1", "a0", "a1", "a2"]
    assert texts.count("sent while down") == 1
    agent_view = await agent.wait_messages(chat_id, 5, timeout=scaled(20))
    assert [m["text"] for m in agent_view].count("sent while down") == 1
    assert visitor.duplicates == 0
    for c in (agent, visitor):
        await c.close()


@pytest.mark.timeout(90)
async def test_fault_agent_process_killed_agent_keeps_chats_on_the_other(
    cluster: Cluster,
) -> None:
    agent = await ChatClient.agent(
        [cluster.urls[0], cluster.urls[1]], await cluster.add_agent("alice"), reconnect=True
    )
    visitor = await cluster.visitor(server=1)
    chat_id = await active_chat(agent, visitor)
    cluster.servers[0].kill()
    await visitor.say(chat_id, "are you there?")
    got = await agent.wait_messages(chat_id, 1, timeout=scaled(20))
    assert got[-1]["text"] == "are you there?"
    await agent.say(chat_id, "yes", timeout=scaled(20))
    await visitor.wait_messages(chat_id, 2)
    # the dead process's presence entries expire; alice stays online through the other
    await asyncio.sleep(scaled(4))
    assert (await _agent_status(cluster, "alice"))["status"] == "online"
    chat = await agent.request({"type": "resume", "chat": chat_id, "after": 2})
    assert chat["chat"]["state"] == "active" and chat["chat"]["agent"]["id"] == "alice"
    for c in (agent, visitor):
        await c.close()


@pytest.mark.timeout(120)
async def test_fault_redis_restarted_hub_reconnects_by_itself() -> None:
    valkey = Valkey(appendonly=True)
    valkey.start()
    cluster = Cluster(valkey.url, n=2)
    clients: list[ChatClient] = []
    try:
        await cluster.start()
        agent = await ChatClient.agent(
            cluster.urls, await cluster.add_agent("alice"), reconnect=True
        )
        visitor = await ChatClient.visitor(cluster.urls[::-1], reconnect=True)
        clients += [agent, visitor]
        chat_id = await active_chat(agent, visitor)
        before = await visitor.say(chat_id, "before the restart")
        await asyncio.to_thread(valkey.restart)
        deadline = time.monotonic() + scaled(30)
        while True:  # /healthz answers 200 again without anyone restarting the hub
            status, _ = await http("GET", cluster.urls[0] + "/healthz")
            if status == 200:
                break
            assert time.monotonic() < deadline, "hub did not recover"
            await asyncio.sleep(0.2)
        ack = None
        while ack is None:
            try:
                ack = await visitor.say(chat_id, "after the restart", timeout=scaled(5))
            except (ClientError, TimeoutError, ConnectionError):
                assert time.monotonic() < deadline, "could not send after the restart"
                await asyncio.sleep(0.3)
        # sequence numbers never go back, so nothing a client saw is reused
        assert ack["seq"] > before["seq"]
        got = await agent.wait_messages(chat_id, 2, timeout=scaled(20))
        assert [m["text"] for m in got][-1] == "after the restart"
        assert [m["seq"] for m in got] == sorted({m["seq"] for m in got})
        # routing still works: a new chat gets an offer
        other = await ChatClient.visitor(cluster.urls[0])
        clients.append(other)
        chat2 = await other.start()
        offer = await agent.wait_for(
            lambda f: f["type"] == "offer" and f["chat"]["id"] == chat2["id"], scaled(20)
        )
        assert offer
    finally:
        await close_quietly(clients)
        cluster.stop()
        valkey.stop()


@pytest.mark.timeout(60)
async def test_fault_two_processes_race_to_close_exactly_one_wins(cluster: Cluster) -> None:
    for round_ in range(5):
        agent_token = await cluster.add_agent(f"racer{round_}")
        agent = await cluster.agent(agent_token, server=0)
        visitor = await cluster.visitor(server=1)
        chat_id = await active_chat(agent, visitor)
        results = await asyncio.gather(
            agent.request({"type": "close", "chat": chat_id, "outcome": "resolved"}),
            visitor.request({"type": "leave", "chat": chat_id}),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, dict) and r.get("type") == "ok"]
        losses = [r for r in results if isinstance(r, ClientError)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert losses[0].code == "invalid_state"
        redis = cluster.redis()
        try:
            # exactly one end in the routing event log (the outbox entry it wrote may
            # already be consumed by the records writer)
            events = await redis.xrange(f"{cluster.prefix}:{{rt}}:events")
            ends = [f for _, f in events
                    if f[b"t"] == b"end" and f[b"chat"] == chat_id.encode()]
            assert len(ends) == 1
        finally:
            await redis.aclose()
        for c in (agent, visitor):
            await c.close()


@pytest.mark.timeout(180)
async def test_fault_slow_consumer_is_dropped_others_are_not_slowed(redis_url: str) -> None:
    cluster = Cluster(
        redis_url, n=1, send_queue_frames="20", max_text_chars="4000",
        messages_per_10s="100000",
    )
    await cluster.start()
    clients: list[ChatClient] = []
    raw: socket.socket | None = None
    try:
        agent = await cluster.agent(await cluster.add_agent("alice", capacity=5))
        visitor = await cluster.visitor()
        clients += [agent, visitor]
        chat_id = await active_chat(agent, visitor)
        # a second tab of the same visitor that never reads anything
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
        raw.connect(("127.0.0.1", cluster.servers[0].port))
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall(
            (
                "GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                f"Authorization: Bearer {visitor.token}\r\n\r\n"
            ).encode()
        )
        await asyncio.sleep(0.3)
        # the silent tab follows the chat by resuming it (frame written raw)
        import msgspec

        frame = msgspec.msgpack.encode({"type": "resume", "chat": chat_id, "after": 0})
        mask = os.urandom(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(frame))
        raw.sendall(bytes([0x82, 0x80 | len(frame)]) + mask + payload)
        await asyncio.sleep(0.3)
        started = time.monotonic()
        text = "x" * 3500
        count = 2000  # ~7 MB: more than the kernel buffers of the silent socket hold
        for i in range(count):
            await agent.say_nowait(chat_id, f"{i} {text}", cid=f"bulk-{i}")
        got = await visitor.wait_messages(chat_id, count, timeout=scaled(120))
        elapsed = time.monotonic() - started
        assert len(got) == count and visitor.duplicates == 0
        # the silent tab was cut off instead of holding everyone back
        raw.settimeout(5)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := raw.recv(65536):
                data += chunk
        assert b"\x88\x02\x03\xf5" in data or b"too slow" in data  # close frame, code 1013
        assert elapsed < scaled(120)
    finally:
        if raw is not None:
            raw.close()
        await close_quietly(clients)
        cluster.stop()


@pytest.mark.timeout(60)
async def test_fault_graceful_shutdown_closes_sockets_with_1001(cluster: Cluster) -> None:
    agent = await cluster.agent(await cluster.add_agent("alice"), server=0)
    visitor = await cluster.visitor(server=0)
    exit_code = await asyncio.to_thread(cluster.servers[0].terminate)
    assert exit_code in (0, -15)  # uvicorn re-raises SIGTERM after its clean shutdown
    assert await visitor.wait_closed(scaled(10)) == 1001
    assert await agent.wait_closed(scaled(10)) == 1001
    # the other process still serves
    again = await cluster.visitor(server=1)
    await again.close()


@pytest.mark.parametrize("queue_s", ["5", "0.01"])
@pytest.mark.timeout(60)
async def test_fault_reconnect_storm_is_admitted_in_turn_not_dropped(
    redis_url: str, queue_s: str
) -> None:
    """More visitors than ``MAX_PENDING_HANDSHAKES`` arrive at once: they are set up one
    at a time, the others waiting their turn; those that would wait longer than
    ``HANDSHAKE_QUEUE_S`` are answered 503 and get in on a retry."""
    cluster = Cluster(redis_url, n=1, max_pending_handshakes="1", handshake_queue_s=queue_s)
    await cluster.start()
    refused: list[int] = []

    async def arrive() -> ChatClient:
        for _ in range(200):
            try:
                return await ChatClient.visitor(cluster.urls[0])
            except Refused as exc:
                refused.append(exc.status)
                await asyncio.sleep(0.05)
        raise AssertionError("never admitted")

    clients: list[ChatClient] = []
    try:
        clients = list(await asyncio.gather(*(arrive() for _ in range(60))))
        assert len({c.welcome["visitor"] for c in clients}) == 60
        if queue_s == "5":
            assert refused == []  # everyone waited their turn
        else:
            assert refused and set(refused) == {503}
        # every slot was given back: a new visitor gets in first go
        clients.append(await ChatClient.visitor(cluster.urls[0]))
    finally:
        for c in clients:
            await c.close()
        cluster.stop()
