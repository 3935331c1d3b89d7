"""The hot paths, run closed-loop by N concurrent coroutines for a fixed time, and the
pub/sub fan-out run open-loop.  CPU is the whole client process's (``time.process_time``
counts every thread, so the Rust threads of valkey-glide are charged too); the servers'
CPU comes from psutil."""

from __future__ import annotations

import asyncio
import itertools
import random
import struct
import time
from typing import Any

import psutil
import redis
from redis.cluster import RedisCluster

from bench.redis_clients.clients import Adapter, Op
from chatserver.store.keys import Keys
from chatserver.store.scripts import source

KEYS = Keys(prefix="spike")
CHATS = 500
AGENTS = 8
QUEUED = 24
_cid = itertools.count()


def seed(host: str, port: int, cluster: bool) -> None:
    """Open chats for the message script and a routing state for the snapshot reads."""
    r: Any = (RedisCluster(host=host, port=port) if cluster
              else redis.Redis(host=host, port=port))
    try:
        for i in range(CHATS):
            r.hset(KEYS.chat_meta(f"ch{i}"), mapping={"open": "1", f"p:visitor:v{i}": "1"})
        for a in range(AGENTS):
            r.sadd(KEYS.available, f"ag{a}")
            r.hset(KEYS.agent(f"ag{a}"), mapping={
                "capacity": "5", "idle_since": "0", "status": "online", "disabled": "0"})
            r.sadd(KEYS.agent_chats(f"ag{a}"), "x1", "x2")
            r.hset(KEYS.agent_skills(f"ag{a}"), mapping={"en": "5", "billing": "3"})
        r.set(KEYS.agents_version, "1")
        for q in range(QUEUED):
            r.zadd(KEYS.queue("general"), {f"q{q}": q})
            r.hset(KEYS.chat(f"q{q}"), mapping={"req": "en:1", "opt": "", "relaxed": "0"})
            r.sadd(KEYS.chat_declined(f"q{q}"), "ag1")
    finally:
        r.close()


def routing_ops() -> list[Op]:
    """The reads of one routing snapshot (chatserver/store/routing.py ``snapshot``), as
    one batch: agents' state and load, the queue head, the queued chats' needs."""
    ops: list[Op] = [("smembers", (KEYS.available,)), ("get", (KEYS.agents_version,))]
    for a in range(AGENTS):
        ops.append(("hmget", (KEYS.agent(f"ag{a}"), "capacity", "idle_since", "status",
                              "disabled")))
        ops.append(("scard", (KEYS.agent_chats(f"ag{a}"),)))
    ops.append(("zrange", (KEYS.queue("general"), 0, QUEUED - 1)))
    for q in range(QUEUED):
        ops.append(("hmget", (KEYS.chat(f"q{q}"), "req", "opt", "relaxed")))
        ops.append(("smembers", (KEYS.chat_declined(f"q{q}"),)))
    return ops


def post_call(sha: str) -> tuple[list[str], list[Any]]:
    """KEYS/ARGV of one message, exactly as chatserver/store/messages.py builds them."""
    i = random.randrange(CHATS)
    chat = f"ch{i}"
    keys = [KEYS.chat_log(chat), KEYS.chat_ids(chat), KEYS.chat_meta(chat),
            KEYS.chat_channel(chat)]
    args: list[Any] = [chat, "visitor", f"v{i}", "Visitor", f"c{next(_cid)}",
                       "x" * 100, "message", "a", int(time.time() * 1000), 1, 200, 3600, "0"]
    return keys, args


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


class ServerCpu:
    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.start = self._now()

    def _now(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.procs)

    def used(self) -> float:
        return self._now() - self.start


async def closed_loop(
    adapter: Adapter, path: str, conc: int, seconds: float, sha: str, pids: list[int]
) -> dict[str, Any]:
    ops = routing_ops()
    lat: list[float] = []
    done = 0
    errors = 0
    first_error = ""
    per_op = {"post": 1, "routing": len(ops), "getset": 2}[path]

    async def one() -> None:
        if path == "post":
            keys, args = post_call(sha)
            status, _ = await adapter.evalsha(sha, keys, args)
            assert status in (b"ok", "ok"), status
        elif path == "routing":
            replies = await adapter.routing_reads(ops)
            assert len(replies) == len(ops)
        else:
            k = f"spike:kv:{random.randrange(10_000)}"
            await adapter.set(k, b"v" * 100)
            await adapter.get(k)

    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors, first_error
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                await one()
            except Exception as e:
                errors += 1
                first_error = first_error or repr(e)[:200]
                continue
            lat.append(time.perf_counter() - t0)
            done += 1

    for _ in range(3):  # warm up: scripts cached, connections open
        await one()
    srv = ServerCpu(pids)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "path": path, "conc": conc, "ops": done, "errors": errors, "wall_s": wall,
        "ops_per_s": done / wall, "commands_per_s": done * per_op / wall,
        "client_cpu_us_per_op": 1e6 * cpu / max(done, 1),
        "client_cpu_us_per_cmd": 1e6 * cpu / max(done * per_op, 1),
        "client_cpu_pct": 100 * cpu / wall,
        "server_cpu_us_per_op": 1e6 * srv.used() / max(done, 1),
        "p50_ms": 1e3 * pct(lat, 0.5), "p99_ms": 1e3 * pct(lat, 0.99),
        "first_error": first_error,
    }


async def fanout(
    adapter: Adapter, subs: int, rate: int, seconds: float, pids: list[int]
) -> dict[str, Any]:
    """One process: a subscriber holding ``subs`` channels, half steady and half churned
    (one unsubscribed and a new one subscribed every 10 ms while messages flow), and a
    publisher sending ``rate`` msg/s (100 bytes, send time inside) to the steady half."""
    lat: list[float] = []
    got = 0

    def on_message(channel: bytes, data: bytes) -> None:
        nonlocal got
        if channel.startswith(b"spike:steady"):
            got += 1
            lat.append(time.perf_counter() - struct.unpack_from("d", data)[0])

    steady = [f"spike:steady:{{c:{i}}}" for i in range(subs // 2)]
    churn_n = itertools.count()
    churned = [f"spike:churn:{{c:{next(churn_n)}}}" for _ in range(subs - len(steady))]
    await adapter.open_subscriber(on_message)
    t0 = time.perf_counter()
    for ch in steady + churned:  # one by one, as the hub does when sockets join
        await adapter.subscribe([ch])
    subscribe_ms = 1e3 * (time.perf_counter() - t0) / len(steady + churned)
    await asyncio.sleep(0.2)
    stop_churn = asyncio.Event()
    churn_ops = 0

    async def churn() -> None:
        nonlocal churn_ops
        while not stop_churn.is_set():
            old = churned.pop(0)
            new = f"spike:churn:{{c:{next(churn_n)}}}"
            await asyncio.gather(adapter.unsubscribe([old]), adapter.subscribe([new]))
            churned.append(new)
            churn_ops += 1
            await asyncio.sleep(0.01)

    pad = b"p" * 92
    tick = 0.002
    per_tick = max(1, round(rate * tick))
    sent = 0
    pending: set[asyncio.Task[Any]] = set()
    churner = asyncio.get_running_loop().create_task(churn())
    srv = ServerCpu(pids)
    cpu0, w0 = time.process_time(), time.perf_counter()
    deadline = w0 + seconds
    nxt = w0
    late = 0
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for _ in range(per_tick):
            ch = steady[sent % len(steady)]
            t = asyncio.ensure_future(
                adapter.publish(ch, struct.pack("d", time.perf_counter()) + pad))
            pending.add(t)
            t.add_done_callback(pending.discard)
            sent += 1
        nxt += tick
        delay = nxt - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late += 1
            await asyncio.sleep(0)
    if pending:
        await asyncio.wait(pending, timeout=10)
    grace = time.perf_counter() + 5
    # a bounded poll of a counter the subscriber callback bumps
    while got < sent and time.perf_counter() < grace:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - cpu0
    stop_churn.set()
    await churner
    return {
        "subs": subs, "rate": rate, "sent": sent, "delivered": got, "lost": sent - got,
        "delivered_per_s": got / wall, "sent_per_s": sent / (deadline - w0),
        "client_cpu_us_per_msg": 1e6 * cpu / max(got, 1),
        "client_cpu_pct": 100 * cpu / wall,
        "server_cpu_us_per_msg": 1e6 * srv.used() / max(got, 1),
        "p50_ms": 1e3 * pct(lat, 0.5), "p99_ms": 1e3 * pct(lat, 0.99),
        "subscribe_ms_each": subscribe_ms, "churn_ops": churn_ops,
        "publisher_late_ticks": late,
        "reader_errors": len(adapter.reader_errors),
        "first_reader_error": adapter.reader_errors[0] if adapter.reader_errors else "",
    }


def post_source() -> str:
    return source("post")
