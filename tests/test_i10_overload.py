"""Issue 10, items 2 and 4: overload is a retryable ``overloaded`` error with a retry hint
(never ``internal``), the Python client resends after it and the message is stored once;
a hub started on a Redis holding another process's backlog of records serves at once
while the backlog drains in the background, and every chat gets exactly one record.

Each test runs its own Valkey (``tests.harness.Valkey``): pausing it (SIGSTOP) touches
nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from bench.s_records import fill_finished_chats
from chatserver.client import ChatClient
from chatserver.store.keys import Keys
from tests.harness import Cluster, Valkey, scaled


@contextlib.asynccontextmanager
async def _hub(valkey: Valkey, **env: str) -> AsyncIterator[Cluster]:
    cluster = Cluster(valkey.url, n=1, auto_accept="true", **env)
    await cluster.start()
    try:
        yield cluster
    finally:
        valkey.resume()
        cluster.stop()


async def _active_chat(cluster: Cluster) -> tuple[ChatClient, ChatClient, str]:
    agent = await cluster.agent(await cluster.add_agent("alice"))
    visitor = await cluster.visitor()
    chat = await visitor.start()
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["state"] == "active", scaled(10)
    )
    return agent, visitor, str(chat["id"])


async def _stored_copies(cluster: Cluster, chat_id: str, text: str) -> int:
    redis = cluster.redis()
    try:
        entries: Any = await redis.xrange(Keys(cluster.prefix).chat_log(chat_id))
    finally:
        await redis.aclose()
    frames = [msgspec.msgpack.decode(f[b"f"]) for _, f in entries]
    return sum(1 for f in frames if f.get("text") == text)


def _overloaded(cid: str) -> Any:
    return lambda f: f["type"] == "error" and f.get("cid") == cid


@pytest.mark.timeout(120)
async def test_i10_04_paused_redis_gives_overloaded_and_say_succeeds_once(
    valkey: Valkey,
) -> None:
    async with _hub(valkey, action_timeout_s="1", overload_retry_ms="400") as cluster:
        agent, visitor, chat_id = await _active_chat(cluster)
        try:
            since = len(visitor.frames)
            valkey.pause()
            say = asyncio.create_task(
                visitor.say(chat_id, "sent while paused", cid="paused-1", timeout=scaled(20))
            )
            error = await visitor.wait_for(_overloaded("paused-1"), scaled(15), since=since)
            assert error["code"] == "overloaded"
            assert error["retry_ms"] == 400
            valkey.resume()
            ack = await asyncio.wait_for(say, scaled(40))
            assert ack["type"] == "ack" and ack["cid"] == "paused-1"
            assert not any(
                f["type"] == "error" and f.get("code") == "internal"
                for f in visitor.frames[since:]
            )
            assert await _stored_copies(cluster, chat_id, "sent while paused") == 1
            got = await agent.wait_messages(chat_id, 1, scaled(10))
            assert [m["text"] for m in got] == ["sent while paused"]
        finally:
            valkey.resume()
            await visitor.close()
            await agent.close()


@pytest.mark.timeout(120)
async def test_i10_02_inflight_bound_gives_overloaded_not_internal(valkey: Valkey) -> None:
    # a small bound on unanswered commands and a long action deadline: with Redis
    # paused, the messages of twelve visitors at once (one command each) overrun the
    # bound of 8, and those beyond it are refused at once (no pool to wait on)
    async with _hub(
        valkey, redis_max_inflight="8", action_timeout_s="60", overload_retry_ms="300",
    ) as cluster:
        agent = await cluster.agent(await cluster.add_agent("alice", capacity=12))
        visitors: list[tuple[ChatClient, str]] = []
        try:
            for _ in range(12):
                visitor = await cluster.visitor()
                chat = await visitor.start()
                await visitor.wait_for(
                    lambda f: f["type"] == "chat" and f["chat"]["state"] == "active",
                    scaled(10),
                )
                visitors.append((visitor, str(chat["id"])))
            marks = [len(v.frames) for v, _ in visitors]
            valkey.pause()
            await asyncio.gather(*(
                v.say_nowait(chat_id, f"text {i}", f"burst-{i}")
                for i, (v, chat_id) in enumerate(visitors)
            ))
            deadline = time.monotonic() + scaled(15)
            refused: list[dict[str, Any]] = []
            while not refused:
                assert time.monotonic() < deadline, "no visitor was refused"
                await asyncio.sleep(0.1)
                refused = [
                    f for (v, _), mark in zip(visitors, marks, strict=True)
                    for f in v.frames[mark:] if f["type"] == "error"
                ]
            assert {f["code"] for f in refused} == {"overloaded"}
            assert all(f["retry_ms"] == 300 for f in refused)
            valkey.resume()
            # each resends its message (same cid) until acknowledged: each stored once
            for i, (v, chat_id) in enumerate(visitors):
                ack = await v.say(chat_id, f"text {i}", cid=f"burst-{i}", timeout=scaled(20))
                assert ack["cid"] == f"burst-{i}"
            for i, (v, chat_id) in enumerate(visitors):
                assert await _stored_copies(cluster, chat_id, f"text {i}") == 1
                assert not any(
                    f["type"] == "error" and f.get("code") == "internal"
                    for f in v.frames[marks[i]:]
                )
        finally:
            valkey.resume()
            for v, _ in visitors:
                await v.close()
            await agent.close()


def _records(db: str) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT chat_id) FROM interactions"
        ).fetchone()
    return int(total), int(distinct)


@pytest.mark.timeout(300)
async def test_i10_04_hub_on_records_backlog_serves_at_once(valkey: Valkey) -> None:
    backlog = 2000
    cluster = Cluster(valkey.url, n=1, auto_accept="true", record_pause_ms="100")
    keys = Keys(cluster.prefix)
    redis = cluster.redis()
    try:
        ids = await fill_finished_chats(redis, keys, backlog, 20, tag="left-")
        assert await redis.xlen(keys.outbox) == backlog
        await cluster.start()
        agent = await cluster.agent(await cluster.add_agent("alice"))
        visitor = await cluster.visitor()
        try:
            chat = await visitor.start()
            await visitor.wait_for(
                lambda f: f["type"] == "chat" and f["chat"]["state"] == "active", scaled(5)
            )
            ack = await visitor.say(chat["id"], "hello during the backlog", timeout=scaled(5))
            assert ack["type"] == "ack"
            await agent.wait_messages(chat["id"], 1, scaled(5))
            # served while the backlog was still being written, not after it
            assert await redis.xlen(keys.outbox) > 0
            await agent.request({"type": "close", "chat": chat["id"]})
            ids.append(str(chat["id"]))
        finally:
            await visitor.close()
            await agent.close()
        db = str(cluster.data_dir / "records.db")
        deadline = time.monotonic() + scaled(180)
        while _records(db)[0] < len(ids):
            assert time.monotonic() < deadline, f"records written: {_records(db)}"
            await asyncio.sleep(0.5)
        assert _records(db) == (len(ids), len(ids))
        with contextlib.closing(sqlite3.connect(db)) as conn:
            written = {r[0] for r in conn.execute("SELECT chat_id FROM interactions")}
        assert written == set(ids)
    finally:
        await redis.aclose()
        cluster.stop()


@pytest.mark.timeout(60)
async def test_i10_02_heartbeat_and_timers_work_with_the_shared_connection_full(
    valkey: Valkey, tmp_path: Any
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from chatserver.hub.node import Node
    from chatserver.settings import Settings

    settings = Settings(
        redis_url=valkey.url, data_dir=tmp_path, key_prefix="hb", redis_max_inflight=2,
    )
    node = Node(settings)
    await node.start(serve=False)
    # a blocking command holds the shared connection: what is queued behind it waits, and
    # with the bound reached a client action is refused at once
    blocker = asyncio.create_task(node.redis.execute_command("BLPOP", "hb:nothing", 3))
    behind = asyncio.create_task(node.redis.get("hb:behind"))
    try:
        await asyncio.sleep(0.2)
        assert node.redis.mux.inflight == 2
        with pytest.raises(RedisConnectionError):
            await node.messages.meta("c1")
        # ... while a timer pass and the heartbeats run on their own connection
        await asyncio.wait_for(node.jobs.run_timers(), scaled(10))
        now = node.now()
        await asyncio.wait_for(
            node.background_presence.heartbeat({"v1": ["conn-1"]}, now), scaled(10)
        )
        await asyncio.wait_for(
            node.background_agents.heartbeat({"a1": ["conn-2"]}, now), scaled(10)
        )
        conns, _gone = await node.background_presence.state("v1")
        assert list(conns) == ["conn-1"]
        assert await blocker is None and await behind is None
        assert node.redis.mux.inflight == 0
        assert await node.messages.meta("c1") == {}  # served again
    finally:
        for task in (blocker, behind):
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await node.stop()
