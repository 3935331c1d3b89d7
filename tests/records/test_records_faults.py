"""Faults around the interaction records: a worker killed mid-batch, two writers at once,
the database unreachable for a while, ratings that arrive late or during an outage.

Every test ends by reading the database itself (not the API): for every chat that ended
there is exactly one row in ``interactions``, ``interaction_messages`` holds exactly the
chat's messages (seqs 1..n, once each), ``interaction_events`` holds the chat's routing
history once, and the outbox stream is empty with nothing pending.  Each test runs on
SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.client import ChatClient
from chatserver.records.database import create_engine
from chatserver.records.schema import (
    interaction_agents,
    interaction_events,
    interaction_messages,
    interactions,
)
from chatserver.store.keys import Keys
from tests.harness import Cluster, scaled
from tests.records.tcp_proxy import TcpProxy

GROUP = "records"


# ---- what a chat should leave behind ------------------------------------------------------
@dataclass
class Chat:
    id: str
    texts: list[str]
    """The chat's messages, in order."""
    state: str
    agents: int = 0
    """How many agent spans the record must have."""
    rating: int | None = None
    comment: str = ""


# ---- the database, opened by the test ------------------------------------------------------
def check_engine(cluster: Cluster, database_url: str) -> AsyncEngine:
    """An engine on the records database the cluster writes to (PostgreSQL directly, not
    through any proxy)."""
    if not database_url:
        return create_engine(f"sqlite+aiosqlite:///{cluster.data_dir / 'records.db'}")
    return create_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))


async def count_records(engine: AsyncEngine, ids: Iterable[str]) -> int:
    ids = list(ids)
    async with engine.connect() as conn:
        found = await conn.execute(
            select(func.count()).select_from(interactions).where(interactions.c.chat_id.in_(ids))
        )
        return int(found.scalar_one())


async def ratings(engine: AsyncEngine, ids: Iterable[str]) -> dict[str, tuple[int | None, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(interactions.c.chat_id, interactions.c.rating, interactions.c.rating_comment)
            .where(interactions.c.chat_id.in_(list(ids)))
        )
        return {r.chat_id: (r.rating, r.rating_comment) for r in rows}


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval)


async def wait_records(engine: AsyncEngine, chats: Sequence[Chat], timeout: float = 30) -> None:
    ids = [c.id for c in chats]

    async def all_there() -> bool:
        return await count_records(engine, ids) == len(ids)

    await eventually(all_there, timeout, f"{len(ids)} records")


def outbox_key(cluster: Cluster) -> str:
    return f"{cluster.prefix}:{{rt}}:outbox"


async def wait_outbox_drained(redis: Any, cluster: Cluster, timeout: float = 15) -> None:
    """The outbox ends empty and nothing is pending in the group (the acknowledgement
    follows the commit, so it may lag the last record by a moment)."""
    state: dict[str, Any] = {}

    async def drained() -> bool:
        state["xlen"] = await redis.xlen(outbox_key(cluster))
        state["pending"] = (await redis.xpending(outbox_key(cluster), GROUP))["pending"]
        return state["xlen"] == 0 and state["pending"] == 0

    try:
        await eventually(drained, timeout, "the outbox to drain")
    except AssertionError:
        raise AssertionError(f"outbox not drained: {state}") from None


async def check_exactly_once(
    engine: AsyncEngine, cluster: Cluster, chats: Sequence[Chat], *, others: int = 0
) -> None:
    """Exactly one record per chat, nothing lost, nothing doubled, nothing extra (besides
    ``others`` records of chats the test does not describe)."""
    ids = [c.id for c in chats]
    assert len(set(ids)) == len(ids)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(interactions))).all()
        msgs = (await conn.execute(
            select(interaction_messages.c.chat_id, interaction_messages.c.seq,
                   interaction_messages.c.text)
            .order_by(interaction_messages.c.chat_id, interaction_messages.c.seq)
        )).all()
        events = (await conn.execute(
            select(interaction_events.c.chat_id, interaction_events.c.idx,
                   interaction_events.c.kind, interaction_events.c.at)
            .order_by(interaction_events.c.chat_id, interaction_events.c.idx)
        )).all()
        spans = (await conn.execute(
            select(interaction_agents.c.chat_id, interaction_agents.c.idx)
        )).all()
    per_chat = Counter(r.chat_id for r in rows)
    doubled = {k: n for k, n in per_chat.items() if n != 1}
    assert not doubled, f"records written more than once: {doubled}"
    lost = set(ids) - set(per_chat)
    assert not lost, f"{len(lost)} of {len(ids)} records lost: {sorted(lost)[:5]}"
    extra = set(per_chat) - set(ids)
    assert len(extra) == others, f"unexpected records: {sorted(extra)[:5]}"

    by_msgs: dict[str, list[Any]] = defaultdict(list)
    for m in msgs:
        by_msgs[m.chat_id].append(m)
    by_events: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_events[e.chat_id].append(e)
    span_count = Counter(s.chat_id for s in spans)
    record = {r.chat_id: r for r in rows}

    # the chats' routing history, straight from Redis: the record must hold it once
    redis = cluster.redis()
    try:
        keys = Keys(cluster.prefix)
        async with redis.pipeline(transaction=False) as pipe:
            for c in chats:
                pipe.lrange(keys.chat_history(c.id), 0, -1)
            histories = await pipe.execute()
    finally:
        await redis.aclose()

    for chat, history in zip(chats, histories, strict=True):
        row = record[chat.id]
        got = by_msgs.get(chat.id, [])
        seqs = [m.seq for m in got]
        assert seqs == list(range(1, len(chat.texts) + 1)), (chat.id, seqs)
        # a NUL character may be dropped on the way (PostgreSQL text cannot hold one)
        assert [m.text.replace("\x00", "") for m in got] == chat.texts, chat.id
        assert row.message_count == len(chat.texts), chat.id
        assert row.end_state == chat.state, (chat.id, row.end_state)
        expected = [h.decode().split("|", 2)[:2] for h in history]
        assert expected, f"no history in Redis for {chat.id}"
        got_events = by_events.get(chat.id, [])
        assert [e.idx for e in got_events] == list(range(len(got_events))), chat.id
        assert [[e.kind, str(e.at)] for e in got_events] == expected, chat.id
        kinds = [e.kind for e in got_events]
        assert kinds[0] == "created" and kinds.count("created") == 1, (chat.id, kinds)
        assert kinds[-1] == "end" and kinds.count("end") == 1, (chat.id, kinds)
        assert span_count.get(chat.id, 0) == chat.agents, chat.id
        assert (row.rating, row.rating_comment) == (chat.rating, chat.comment), chat.id


# ---- making chats end ----------------------------------------------------------------------
async def abandon_chats(cluster: Cluster, n: int, *, tag: str, say: int = 2) -> list[Chat]:
    """``n`` visitors start a chat (no agent takes it), write ``say`` messages, then all
    leave at once: ``n`` abandoned chats ending in one burst."""
    visitors: list[ChatClient] = []
    started: list[tuple[ChatClient, Chat]] = []
    gate = asyncio.Semaphore(40)

    async def one(i: int) -> None:
        async with gate:
            v = await cluster.visitor(server=i % len(cluster.servers))
            visitors.append(v)
            chat = await v.start(name=f"{tag} visitor {i}")
            texts = []
            for k in range(say):
                text = f"{tag} {i} message {k}"
                await v.say(chat["id"], text)
                texts.append(text)
            started.append((v, Chat(str(chat["id"]), texts, "abandoned")))

    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(n):
                tg.create_task(one(i))
        async with asyncio.TaskGroup() as tg:
            for v, c in started:
                tg.create_task(v.request({"type": "leave", "chat": c.id}))
        return [c for _, c in started]
    finally:
        await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)


async def served_chat(
    cluster: Cluster, agent: ChatClient, visitor: ChatClient, tag: str
) -> Chat:
    """A chat the agent accepts; the visitor asks, the agent answers.  Still active."""
    chat = await visitor.start(name=f"{tag} visitor")
    chat_id = str(chat["id"])
    offer = await agent.wait_for(
        lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id, scaled(10)
    )
    await agent.request({"type": "accept", "chat": offer["chat"]["id"]})
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["id"] == chat_id
        and f["chat"]["state"] == "active", scaled(10),
    )
    question, answer = f"{tag}: where is my order?", f"{tag}: on its way"
    await visitor.say(chat_id, question)
    await agent.say(chat_id, answer)
    return Chat(chat_id, [question, answer], "closed", agents=1)


async def agent_closes(agent: ChatClient, visitor: ChatClient, chat: Chat) -> None:
    """The agent closes the chat; the visitor gets the closed state, the agent its reply
    and its ``ended`` frame."""
    await agent.request({"type": "close", "chat": chat.id, "outcome": "resolved"})
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["id"] == chat.id
        and f["chat"]["state"] == "closed", scaled(10),
    )
    await agent.wait_for(lambda f: f["type"] == "ended" and f["chat"] == chat.id, scaled(10))


async def visitor_leaves(agent: ChatClient, visitor: ChatClient, chat: Chat) -> None:
    """The visitor leaves an active chat; the agent is told it ended."""
    await visitor.request({"type": "leave", "chat": chat.id})
    await agent.wait_for(lambda f: f["type"] == "ended" and f["chat"] == chat.id, scaled(10))


async def rate(visitor: ChatClient, chat: Chat, rating: int, comment: str) -> None:
    await visitor.request({"type": "rate", "chat": chat.id, "rating": rating, "comment": comment})
    chat.rating, chat.comment = rating, comment


# ---- worker processes ----------------------------------------------------------------------
class Worker:
    """One ``chatserver worker`` process (background jobs only: timers and the records
    writer)."""

    def __init__(self, cluster: Cluster, database_url: str, name: str) -> None:
        self.env = {
            **os.environ, **cluster.env, "REDIS_URL": cluster.redis_url,
            "DATA_DIR": str(cluster.data_dir), "DATABASE_URL": database_url,
        }
        self.log_path = cluster.data_dir / f"worker-{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: ASYNC230, SIM115 (closed in stop)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatserver", "worker",
            env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + scaled(20)
        while "chatserver worker running" not in self.output():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {self.output()[-3000:]}")
            await asyncio.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP: the process stops where it is until ``thaw`` (or ``kill``)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement of what it was writing."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), scaled(10))
            except TimeoutError:
                await self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# ---- making the database unreachable -------------------------------------------------------
class Outage:
    """Makes the records database fail for a while and come back.

    PostgreSQL: the product reaches it through a :class:`TcpProxy`; ``down`` resets every
    connection and refuses new ones.  SQLite: ``down`` renames ``interaction_events`` away
    so every record write fails inside its transaction (``no such table``); ``up`` renames
    it back.  Either way the processes must be started while the database is up (they
    migrate at start)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.proxy: TcpProxy | None = None
        self.sqlite_path: Path | None = None

    async def product_url(self) -> str:
        """The DATABASE_URL to give the product."""
        if not self.database_url:
            return ""
        url = make_url(self.database_url)
        self.proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        await self.proxy.start()
        return url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False
        )

    def attach(self, cluster: Cluster) -> None:
        if not self.database_url:
            self.sqlite_path = cluster.data_dir / "records.db"

    async def down(self) -> None:
        if self.proxy is not None:
            await self.proxy.cut()
        else:
            await asyncio.to_thread(self._rename, "interaction_events", "interaction_events_away")

    async def up(self) -> None:
        if self.proxy is not None:
            self.proxy.resume()
        else:
            await asyncio.to_thread(self._rename, "interaction_events_away", "interaction_events")

    def _rename(self, old: str, new: str) -> None:
        assert self.sqlite_path is not None and self.sqlite_path.exists()
        conn = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
            conn.commit()
        finally:
            conn.close()

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.stop()


def writer_failures(cluster: Cluster, workers: Sequence[Worker] = ()) -> int:
    """How many times the records writers logged a failed step (the backoff message)."""
    logs = [s.output() for s in cluster.servers] + [w.output() for w in workers]
    return sum(text.count("records writer:") for text in logs)


# ---- 1. a worker killed mid-batch ----------------------------------------------------------
@pytest.mark.timeout(120)
async def test_worker_killed_mid_batch_then_replaced_writes_each_record_once(
    redis_url: str, database_url: str
) -> None:
    # small batches, so that it is killed with records both written and not
    cluster = Cluster(redis_url, n=1, database_url=database_url, background_jobs="false",
                      record_claim_idle_s="1", record_batch="4")
    workers: list[Worker] = []
    engine = check_engine(cluster, database_url)
    redis = cluster.redis()
    try:
        await cluster.start()
        # no writer runs: the chats wait in the outbox
        first = await abandon_chats(cluster, 40, tag="A")
        assert await redis.xlen(outbox_key(cluster)) == len(first)
        assert await count_records(engine, [c.id for c in first]) == 0

        doomed = Worker(cluster, database_url, "doomed")
        workers.append(doomed)
        await doomed.start()
        ids = [c.id for c in first]
        # kill it in the middle of its work: once some records are in while it holds
        # entries read and not yet acknowledged.  It is frozen (SIGSTOP) to look, so what
        # is seen is what it leaves behind; if the moment is not right it goes on a little.
        deadline = time.monotonic() + scaled(30)
        while True:
            assert time.monotonic() < deadline, "the worker was never caught mid-batch"
            doomed.freeze()
            written = await count_records(engine, ids)
            # (before its first read the worker may not have made its consumer group)
            if written > 0 and (await redis.xpending(outbox_key(cluster), GROUP))["pending"]:
                break
            doomed.thaw()
            await asyncio.sleep(0.005)
        await doomed.kill()
        assert written == await count_records(engine, ids)
        assert 0 < written < len(first), f"killed too late: {written} of {len(first)} written"
        pending = await redis.xpending(outbox_key(cluster), GROUP)
        assert pending["pending"] > 0, "the dead worker left nothing pending"

        # chats keep ending while no writer is alive
        second = await abandon_chats(cluster, 10, tag="B")
        await asyncio.sleep(0.5)
        assert await count_records(engine, ids) == written  # nobody writes

        heir = Worker(cluster, database_url, "heir")
        workers.append(heir)
        await heir.start()
        third = await abandon_chats(cluster, 10, tag="C")  # and while the new one runs
        chats = first + second + third
        await wait_records(engine, chats)
        await wait_outbox_drained(redis, cluster)
        await check_exactly_once(engine, cluster, chats)
    finally:
        for w in workers:
            await w.stop()
        cluster.stop()
        await redis.aclose()
        await engine.dispose()


# ---- 2. two writers at once ----------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("writers", ["two_workers", "two_web_processes"])
async def test_two_writers_at_once_write_each_record_once(
    redis_url: str, database_url: str, writers: str
) -> None:
    """Many chats end at once while two writers consume the outbox: two ``chatserver
    worker`` processes (the web process has BACKGROUND_JOBS=false), or the default where
    both web processes write (and the chats end on both)."""
    # with workers, one web process is enough to end the chats
    jobs, n = ("false", 1) if writers == "two_workers" else ("true", 2)
    cluster = Cluster(redis_url, n=n, database_url=database_url, background_jobs=jobs,
                      record_claim_idle_s="1")
    workers: list[Worker] = []
    engine = check_engine(cluster, database_url)
    redis = cluster.redis()
    seen: set[str] = set()
    stop_watch = asyncio.Event()

    async def watch_consumers() -> None:
        # which writers hold entries while the burst is written (they are deleted after)
        while not stop_watch.is_set():
            summary = await redis.xpending(outbox_key(cluster), GROUP)
            seen.update(c["name"].decode() for c in summary["consumers"] if c["pending"])
            await asyncio.sleep(0.005)

    watcher: asyncio.Task[None] | None = None
    try:
        if writers == "two_workers":
            workers = [Worker(cluster, database_url, f"w{i}") for i in range(2)]
            await asyncio.gather(cluster.start(), *(w.start() for w in workers))
        else:
            await cluster.start()  # each web process runs a writer
        await eventually(lambda: _started_group(redis, cluster), 10, "the consumer group")
        watcher = asyncio.create_task(watch_consumers())
        chats = await abandon_chats(cluster, 50, tag="burst")
        await wait_records(engine, chats)
        await wait_outbox_drained(redis, cluster)
        stop_watch.set()
        await watcher
        await check_exactly_once(engine, cluster, chats)
        # both writers did part of the work, when the sampling caught it (informative)
        sys.stderr.write(f"writers seen holding entries: {len(seen)}\n")
    finally:
        stop_watch.set()
        if watcher is not None and not watcher.done():
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        for w in workers:
            await w.stop()
        cluster.stop()
        await redis.aclose()
        await engine.dispose()


async def _started_group(redis: Any, cluster: Cluster) -> bool:
    groups = await redis.xinfo_groups(outbox_key(cluster)) if await redis.exists(
        outbox_key(cluster)) else []
    return any(g["name"] in (GROUP, GROUP.encode()) for g in groups)


# ---- 3. the database unreachable, then back ------------------------------------------------
@pytest.mark.timeout(120)
async def test_database_unreachable_then_back_every_record_arrives_once(
    redis_url: str, database_url: str
) -> None:
    outage = Outage(database_url)
    cluster: Cluster | None = None
    engine: AsyncEngine | None = None
    redis: Any = None
    clients: list[ChatClient] = []
    try:
        product_url = await outage.product_url()
        cluster = Cluster(redis_url, n=2, database_url=product_url, record_claim_idle_s="1")
        outage.attach(cluster)
        engine = check_engine(cluster, database_url)
        redis = cluster.redis()
        await cluster.start()  # while the database is up: the processes migrate
        agent = await cluster.agent(await cluster.add_agent("alice", capacity=10), server=1)
        clients.append(agent)
        before = await abandon_chats(cluster, 5, tag="before")
        await wait_records(engine, before)

        failures = writer_failures(cluster)
        await outage.down()
        # the product keeps working: chats end and both sides are told
        served = []
        for i in range(3):
            visitor = await cluster.visitor(server=0)
            clients.append(visitor)
            served.append((visitor, await served_chat(cluster, agent, visitor, f"served {i}")))
        await agent_closes(agent, served[0][0], served[0][1])
        await agent_closes(agent, served[1][0], served[1][1])
        await visitor_leaves(agent, served[2][0], served[2][1])
        during = [c for _, c in served] + await abandon_chats(cluster, 30, tag="during")

        await eventually(lambda: _more(writer_failures(cluster), failures), 15,
                         "the writers to fail")
        await asyncio.sleep(1)
        assert await count_records(engine, [c.id for c in during]) == 0
        assert await redis.xlen(outbox_key(cluster)) == len(during)  # all of them wait

        await outage.up()
        await wait_records(engine, during)
        await wait_outbox_drained(redis, cluster)
        await check_exactly_once(engine, cluster, before + during)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if cluster is not None:
            # in a thread: the proxy runs on this loop, and the processes close their
            # database connections through it
            await asyncio.to_thread(cluster.stop)
        if redis is not None:
            await redis.aclose()
        if engine is not None:
            await engine.dispose()
        await outage.close()


async def _more(now: int, before: int) -> bool:
    return now > before


# ---- 4. ratings after the record, and during an outage -------------------------------------
@pytest.mark.timeout(120)
async def test_ratings_after_the_record_and_during_an_outage_reach_the_record(
    redis_url: str, database_url: str
) -> None:
    outage = Outage(database_url)
    cluster: Cluster | None = None
    engine: AsyncEngine | None = None
    redis: Any = None
    clients: list[ChatClient] = []
    try:
        product_url = await outage.product_url()
        cluster = Cluster(redis_url, n=2, database_url=product_url, record_claim_idle_s="1")
        outage.attach(cluster)
        engine = check_engine(cluster, database_url)
        redis = cluster.redis()
        await cluster.start()
        agent = await cluster.agent(await cluster.add_agent("alice", capacity=10), server=0)
        clients.append(agent)

        async def closed_chat(tag: str) -> tuple[ChatClient, Chat]:
            visitor = await cluster.visitor(server=1)
            clients.append(visitor)
            chat = await served_chat(cluster, agent, visitor, tag)
            await agent_closes(agent, visitor, chat)
            return visitor, chat

        # a rating sent after the record was written
        va, a = await closed_chat("A")
        await wait_records(engine, [a])
        assert (await ratings(engine, [a.id]))[a.id] == (None, "")
        await rate(va, a, 5, "great")
        await eventually(
            lambda: _has_ratings(engine, [a]), 15, "the late rating in the record"
        )
        # a record written before the outage, rated during it
        vc, c = await closed_chat("C")
        await wait_records(engine, [c])

        failures = writer_failures(cluster)
        await outage.down()
        vb, b = await closed_chat("B")  # ends and is rated while the database is down
        await rate(vb, b, 4, "fine")
        await rate(vc, c, 2, "slow")
        vd = await cluster.visitor(server=0)  # abandoned, then rated, during the outage
        clients.append(vd)
        started = await vd.start(name="D")
        await vd.request({"type": "leave", "chat": started["id"]})
        d = Chat(str(started["id"]), [], "abandoned")
        await rate(vd, d, 1, "nobody came")

        await eventually(lambda: _more(writer_failures(cluster), failures), 15,
                         "the writers to fail")
        await asyncio.sleep(1)
        assert await ratings(engine, [a.id, b.id, c.id, d.id]) == {
            a.id: (5, "great"), c.id: (None, "")
        }
        # B and D: end + rating each; C: its rating
        assert await redis.xlen(outbox_key(cluster)) == 5

        await outage.up()
        chats = [a, b, c, d]
        await eventually(lambda: _has_ratings(engine, chats), 30, "every rating")
        await wait_outbox_drained(redis, cluster)
        await check_exactly_once(engine, cluster, chats)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        if cluster is not None:
            # in a thread: the proxy runs on this loop, and the processes close their
            # database connections through it
            await asyncio.to_thread(cluster.stop)
        if redis is not None:
            await redis.aclose()
        if engine is not None:
            await engine.dispose()
        await outage.close()


async def _has_ratings(engine: AsyncEngine, chats: Sequence[Chat]) -> bool:
    got = await ratings(engine, [c.id for c in chats])
    return got == {c.id: (c.rating, c.comment) for c in chats}


# ---- 5. a record the database refuses ------------------------------------------------------
POISONS = {
    # any visitor can send these; SQLite stores them, PostgreSQL refuses them
    "nul_in_message": ({}, "before\x00after"),
    "email_longer_once_lowercased": ({"email": "\u0130" * 200 + "@example.com"}, "hello"),
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("poison", sorted(POISONS))
async def test_a_record_the_database_refuses_does_not_hold_up_the_others(
    redis_url: str, database_url: str, poison: str, request: pytest.FixtureRequest
) -> None:
    """A visitor's chat whose record the database cannot store must not stop every other
    record from being written (and should itself be recorded, cleaned up)."""
    start, text = POISONS[poison]
    # one process writes records (the smallest deployment: one web process, or one worker)
    cluster = Cluster(redis_url, n=1, database_url=database_url, record_claim_idle_s="1")
    engine = check_engine(cluster, database_url)
    redis = cluster.redis()
    visitor: ChatClient | None = None
    try:
        await cluster.start()
        visitor = await cluster.visitor(server=0)
        started = await visitor.start(name="poison", **start)
        await visitor.say(started["id"], text)
        await visitor.request({"type": "leave", "chat": started["id"]})
        bad = Chat(str(started["id"]), [text.replace("\x00", "")], "abandoned")
        good = await abandon_chats(cluster, 10, tag="after")
        await wait_records(engine, good, timeout=8)  # the chats after it are not held up
        await wait_records(engine, [bad], timeout=8)  # and it is recorded itself
        await wait_outbox_drained(redis, cluster)
        await check_exactly_once(engine, cluster, [*good, bad])
    finally:
        if visitor is not None:
            await visitor.close()
        cluster.stop()
        await redis.aclose()
        await engine.dispose()


# ---- 6. an outage longer than the chats' retention in Redis ---------------------------------
@pytest.mark.timeout(60)
async def test_an_outage_longer_than_chat_retention_loses_no_record(
    redis_url: str, database_url: str
) -> None:
    outage = Outage(database_url)
    cluster: Cluster | None = None
    engine: AsyncEngine | None = None
    redis: Any = None
    try:
        product_url = await outage.product_url()
        cluster = Cluster(redis_url, n=1, database_url=product_url, chat_retention_s="2")
        outage.attach(cluster)
        engine = check_engine(cluster, database_url)
        redis = cluster.redis()
        await cluster.start()
        await outage.down()
        chats = await abandon_chats(cluster, 3, tag="long outage")
        keys = Keys(cluster.prefix)

        # longer than the retention: the keys are held while their records wait
        await asyncio.sleep(3)
        assert await redis.exists(*(keys.chat(c.id) for c in chats)) == len(chats)
        assert await redis.xlen(outbox_key(cluster)) == len(chats)  # still waiting
        await outage.up()
        await wait_outbox_drained(redis, cluster)
        assert await count_records(engine, [c.id for c in chats]) == len(chats)

        async def expired() -> bool:  # once written, the normal retention applies
            return not await redis.exists(*(keys.chat(c.id) for c in chats))

        await eventually(expired, 10, "the chats' live keys to expire after the records")
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
        if redis is not None:
            await redis.aclose()
        if engine is not None:
            await engine.dispose()
        await outage.close()
