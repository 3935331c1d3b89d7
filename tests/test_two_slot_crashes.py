"""Actions that span two Redis slots, with the process killed between the two steps.

Each test starts two real hub processes on one Valkey; process 0 has the test-only crash
point ``CHATSERVER_CRASH_AT`` (``chatserver/faults.py``) set, so it exits
(``os._exit``) right after the first step of the action, as a kill at that line would.
The client drives the action over a real WebSocket to process 0, sees its connection
drop, and goes on on process 1, whose background jobs (the records writer, the timers)
must leave the state repaired.  One Valkey serves both slots here, but the slot boundary
is the same as on a cluster: the two steps are two separate commands either way.

The table of these actions, their order and their repairs is in docs/architecture.md,
"Actions that span two slots".
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chatserver.client import ChatClient, ClientError, http
from chatserver.faults import CRASH_EXIT
from chatserver.store.keys import Keys
from tests.harness import Cluster, active_chat, close_quietly, scaled

pytestmark = pytest.mark.timeout(90)


@contextlib.asynccontextmanager
async def crashing(redis_url: str, point: str) -> AsyncIterator[Cluster]:
    """Two hub processes; process 0 exits at crash point ``point``.  A writer that had
    taken an outbox entry and died gives it up after 1 s (``RECORD_CLAIM_IDLE_S``)."""
    cluster = Cluster(redis_url, n=2, record_claim_idle_s="1")
    cluster.servers[0].env["CHATSERVER_CRASH_AT"] = point
    await cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def died_at_crash_point(cluster: Cluster) -> None:
    proc = cluster.servers[0].proc
    assert proc is not None
    code = await asyncio.to_thread(proc.wait, scaled(15))
    assert code == CRASH_EXIT, cluster.servers[0].output()[-3000:]


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + scaled(within)
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def record_of(cluster: Cluster, chat_id: str, within: float = 30) -> dict[str, Any]:
    """The chat's record, read from the records API of process 1 once it is written."""
    box: dict[str, Any] = {}

    async def written() -> bool:
        status, body = await http(
            "GET", f"{cluster.urls[1]}/api/records/{chat_id}", token=cluster.admin_token
        )
        box["record"] = body
        return status == 200

    await eventually(written, within, f"the record of {chat_id}")
    return dict(box["record"])


def record_rows(cluster: Cluster, chat_id: str) -> int:
    """Rows for the chat in the records database itself (SQLite under DATA_DIR)."""
    with contextlib.closing(sqlite3.connect(cluster.data_dir / "records.db")) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM interactions WHERE chat_id = ?", (chat_id,)
        ).fetchone()
    return int(count)


async def outbox_drained(redis: Any, keys: Keys) -> bool:
    pending = (await redis.xpending(keys.outbox, "records"))["pending"]
    return int(await redis.xlen(keys.outbox)) == 0 and int(pending) == 0


async def test_close_killed_between_routing_and_seal(redis_url: str) -> None:
    """Close: the routing script (capacity freed, outbox entry), then the log's seal.  Killed
    in between, the records writer of the other process seals the log before it reads
    it: exactly one record with every acknowledged message, the log sealed, the agent's
    capacity free."""
    async with crashing(redis_url, "end:routed") as cluster:
        keys = Keys(cluster.prefix)
        redis = cluster.redis()
        clients: list[ChatClient] = []
        try:
            token = await cluster.add_agent("alice", capacity=1)
            alice = await cluster.agent(token, server=0)
            visitor = await cluster.visitor(server=1)
            clients += [alice, visitor]
            chat_id = await active_chat(alice, visitor)
            await visitor.say(chat_id, "one")
            await alice.say(chat_id, "two")
            with pytest.raises(ConnectionError):
                await alice.request({"type": "close", "chat": chat_id}, timeout=scaled(15))
            await died_at_crash_point(cluster)

            # the first step is done: the chat is closed and alice's capacity free
            assert (await redis.hget(keys.chat(chat_id), "state")) == b"closed"
            assert await redis.scard(keys.agent_chats("alice")) == 0
            # a message sent now is either refused or acknowledged, and then in the record
            texts = ["one", "two"]
            try:
                await visitor.say(chat_id, "three")
                texts.append("three")
            except ClientError as exc:
                assert exc.code == "invalid_state"

            record = await record_of(cluster, chat_id)
            assert [m["text"] for m in record["messages"]] == texts
            assert record_rows(cluster, chat_id) == 1
            # sealed: nothing more is acknowledged that the record could miss
            assert (await redis.hget(keys.chat_meta(chat_id), "open")) == b"0"
            with pytest.raises(ClientError) as refused:
                await visitor.say(chat_id, "four")
            assert refused.value.code == "invalid_state"
            await eventually(lambda: outbox_drained(redis, keys), 15, "the outbox to drain")
            assert record_rows(cluster, chat_id) == 1

            # alice (capacity 1) is offered the next chat: the closed one no longer counts
            alice_back = await cluster.agent(token, server=1)
            other = await cluster.visitor(server=1)
            clients += [alice_back, other]
            await active_chat(alice_back, other)
        finally:
            await close_quietly(clients)
            await redis.aclose()


async def test_start_killed_between_log_and_queue(redis_url: str) -> None:
    """Start: the log opened, then the chat created and queued.  Killed in between, no
    chat is queued (nothing offered, the visitor has no open chat), the visitor starts
    again on the other process and chats; the orphan log expires by itself."""
    async with crashing(redis_url, "start:log_opened") as cluster:
        keys = Keys(cluster.prefix)
        redis = cluster.redis()
        clients: list[ChatClient] = []
        try:
            token = await cluster.add_agent("alice", capacity=1)
            alice = await cluster.agent(token, server=1)
            visitor = await cluster.visitor(server=0)
            clients += [alice, visitor]
            with pytest.raises(ConnectionError):
                await visitor.start(name="Vera")
            await died_at_crash_point(cluster)

            # nothing half-created in the routing slot
            assert await redis.scard(keys.live_chats) == 0
            assert [k async for k in redis.scan_iter(match=keys.chat("*"))] == []
            # the orphan log: opened, named by nothing, and it expires
            [orphan] = [k async for k in redis.scan_iter(match=keys.chat_meta("*"))]
            assert await redis.ttl(orphan) > 0

            back = await ChatClient.visitor(cluster.urls[1], token=visitor.token)
            clients.append(back)
            assert not back.welcome.get("chat")
            chat_id = await active_chat(alice, back, name="Vera")  # not "chat_open"
            await back.say(chat_id, "hello")
            assert await redis.smembers(keys.live_chats) == {chat_id.encode()}
            offers = [f for f in alice.frames if f["type"] == "offer"]
            assert [f["chat"]["id"] for f in offers] == [chat_id]
        finally:
            await close_quietly(clients)
            await redis.aclose()


async def test_offline_message_killed_between_log_and_record(redis_url: str) -> None:
    """Offline message: the message stored and its log sealed, then the chat and its
    outbox entry in one script.  Killed in between, nothing names the chat (no chat
    without a record), the visitor had no acknowledgement and sends it again."""
    async with crashing(redis_url, "offline:logged") as cluster:
        keys = Keys(cluster.prefix)
        redis = cluster.redis()
        clients: list[ChatClient] = []
        frame = {"type": "offline", "email": "vera@example.com", "text": "call me"}
        try:
            visitor = await cluster.visitor(server=0)
            clients.append(visitor)
            with pytest.raises(ConnectionError):
                await visitor.request(frame, timeout=scaled(15))
            await died_at_crash_point(cluster)

            assert [k async for k in redis.scan_iter(match=keys.chat("*"))] == []
            assert await outbox_drained(redis, keys)
            [orphan] = [k async for k in redis.scan_iter(match=keys.chat_meta("*"))]
            assert (await redis.hget(orphan, "open")) == b"0"  # sealed
            assert await redis.ttl(orphan) > 0

            back = await ChatClient.visitor(cluster.urls[1], token=visitor.token)
            clients.append(back)
            chat_id = (await back.request(frame))["chat"]
            record = await record_of(cluster, chat_id)
            assert record["end_state"] == "offline"
            assert [m["text"] for m in record["messages"]] == ["call me"]
            await eventually(lambda: outbox_drained(redis, keys), 15, "the outbox to drain")
            assert record_rows(cluster, chat_id) == 1
        finally:
            await close_quietly(clients)
            await redis.aclose()


async def test_accept_killed_between_routing_and_participation(redis_url: str) -> None:
    """Accept: the routing script (the chat is the agent's), then the agent's
    participation in the log.  Killed in between, the agent reconnects to the other
    process and writes: the participation is rebuilt from the routing state."""
    async with crashing(redis_url, "accept:routed") as cluster:
        keys = Keys(cluster.prefix)
        redis = cluster.redis()
        clients: list[ChatClient] = []
        try:
            token = await cluster.add_agent("alice", capacity=1)
            alice = await cluster.agent(token, server=0)
            visitor = await cluster.visitor(server=1)
            clients += [alice, visitor]
            chat = await visitor.start(name="Vera")
            await alice.wait_for(
                lambda f: f["type"] == "offer" and f["chat"]["id"] == chat["id"], scaled(10)
            )
            with pytest.raises(ConnectionError):
                await alice.request({"type": "accept", "chat": chat["id"]}, timeout=scaled(15))
            await died_at_crash_point(cluster)
            assert (await redis.hget(keys.chat(chat["id"]), "agent")) == b"alice"
            assert await redis.hget(keys.chat_meta(chat["id"]), "p:agent:alice") is None

            alice_back = await cluster.agent(token, server=1)
            clients.append(alice_back)
            assert [c["id"] for c in alice_back.welcome["chats"]] == [chat["id"]]
            ack = await alice_back.say(chat["id"], "hello Vera")
            assert ack["seq"] == 1
            await visitor.wait_messages(chat["id"], 1, scaled(10))
        finally:
            await close_quietly(clients)
            await redis.aclose()


async def test_transfer_killed_between_routing_and_participations(redis_url: str) -> None:
    """Transfer to an agent: the routing script (the chat is bob's now), then alice's
    participation removed and bob's added.  Killed in between, bob writes (his
    participation rebuilt from the routing state) and the timers remove alice's: she can
    no longer write in a chat that is not hers."""
    async with crashing(redis_url, "transfer:routed") as cluster:
        keys = Keys(cluster.prefix)
        redis = cluster.redis()
        clients: list[ChatClient] = []
        try:
            alice_token = await cluster.add_agent("alice", capacity=1)
            bob_token = await cluster.add_agent("bob", capacity=1)
            bob = await cluster.agent(bob_token, server=1)
            await bob.request({"type": "status", "status": "away"})
            alice = await cluster.agent(alice_token, server=0)
            visitor = await cluster.visitor(server=1)
            clients += [alice, bob, visitor]
            chat_id = await active_chat(alice, visitor)
            await alice.say(chat_id, "one")
            await bob.request({"type": "status", "status": "online"})
            with pytest.raises(ConnectionError):
                await alice.request(
                    {"type": "transfer", "chat": chat_id, "agent": "bob"}, timeout=scaled(15)
                )
            await died_at_crash_point(cluster)
            assert (await redis.hget(keys.chat(chat_id), "agent")) == b"bob"

            ack = await bob.say(chat_id, "bob here")
            assert ack["seq"] == 2

            async def alice_released() -> bool:
                return await redis.hget(keys.chat_meta(chat_id), "p:agent:alice") is None

            await eventually(alice_released, 30, "the sweeper to release alice")
            assert await redis.zcard(keys.released) == 0
            alice_back = await cluster.agent(alice_token, server=1)
            clients.append(alice_back)
            assert alice_back.welcome["chats"] == []
            with pytest.raises(ClientError) as refused:
                await alice_back.say(chat_id, "still here?")
            assert refused.value.code == "forbidden"
            await bob.say(chat_id, "and still me")
        finally:
            await close_quietly(clients)
            await redis.aclose()
