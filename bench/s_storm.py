"""Scenario 5, reconnect storm: kill a hub that holds thousands of live chats.

Visitors with live (active) chats are connected to hub 0, their agents to hub 1.
Messages flow both ways on a fixed schedule (visitor -> agent and agent -> visitor).  Hub 0
is killed with SIGKILL; every visitor's client (``reconnect=True``, URLs hub 0 then hub 1)
reconnects to hub 1, resumes its chat from the last sequence it saw and re-sends what was
never acknowledged.  Reported: time from the kill until 99 % (and 100 %) of the visitors
have resumed, and messages lost: every message sent by either side that the other side
does not hold at the end (must be 0).  Duplicates dropped by the client's sequence check
are reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections import Counter
from typing import Any

from bench.config import Config, Log
from bench.hist import Histogram
from bench.loadgen import CpuWatch, make_text, parse_text
from bench.ours import (
    BenchClient,
    Product,
    await_active,
    close_all,
    connect_agents,
    connect_visitors,
    gather_limited,
    start_chat,
)
from bench.procs import Deployment


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    n = cfg.size(10_000, 2_000)
    cap = 100
    rate = cfg.size(500.0, 200.0)  # messages per second, both directions together
    dep = Deployment(2, hub_cpus=[cfg.server_cpus] * 2, redis_cpus=cfg.server_cpus,
                     backend=cfg.redis,
                     profile_dir=cfg.profile_dir("storm"), auto_accept="true")
    out: dict[str, Any] = {"visitors": n, "agents": n // cap, "agent_capacity": cap,
                           "message_rate": rate}
    agents: dict[str, BenchClient] = {}
    visitors: list[BenchClient] = []
    await asyncio.to_thread(dep.start)
    try:
        product = Product(dep)
        await product.start()
        tokens = await product.add_agents([(f"s{i:03d}", cap, {}) for i in range(n // cap)])
        assigned: set[str] = set()

        def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("type") == "assigned":
                assigned.add(frame["chat"]["id"])

        agents = await connect_agents(dep.urls, tokens, placement=lambda i: 1)
        for a in agents.values():
            a.on_frame = on_frame
        t0 = time.monotonic()
        visitors = await connect_visitors(dep.urls, n, server=0, concurrency=100,
                                          reconnect=True)
        log(f"    {n} visitors on hub0 in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()
        chats = await gather_limited((start_chat(v, "general", "storm") for v in visitors), 100)
        owner = await await_active(product, chats, agents, lambda c: c in assigned)
        agent_of = [agents[owner[c]] for c in chats]
        log(f"    {n} chats active in {time.monotonic() - t0:.1f}s")
        await asyncio.sleep(2.0)

        # ---- traffic both ways, latency from the intended time ---------------------------
        sent: list[tuple[int, str, int]] = []  # (chat index, text, direction 0=v->a 1=a->v)
        lat = Histogram()
        cid = itertools.count()

        def on_msg(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("from", {}).get("role") != client.role:
                with contextlib.suppress(ValueError):
                    intended, _ = parse_text(frame["text"])
                    lat.record((now - intended) // 1000)

        for c in [*visitors, *agents.values()]:
            c.on_msg = on_msg
        stop = asyncio.Event()

        async def traffic() -> None:
            interval = 1e9 / rate
            start = time.monotonic_ns()
            for i in itertools.count():
                if stop.is_set():
                    return
                due = start + int(i * interval)
                wait = due - time.monotonic_ns()
                if wait > 0:
                    await asyncio.sleep(wait / 1e9)
                k = (i * 7919) % n
                text = make_text(due, i)
                direction = i % 2
                sent.append((k, text, direction))
                client = visitors[k] if direction == 0 else agent_of[k]
                with contextlib.suppress(ConnectionError, OSError):
                    await client.say_nowait(chats[k], text, f"m{next(cid)}")

        resumed: list[int] = []
        for v in visitors:
            v.on_resumed = lambda c: resumed.append(c.resumed_at)
        task = asyncio.create_task(traffic())
        await asyncio.sleep(3.0)
        hub1 = dep.hubs[1]
        watch = CpuWatch({"hub1": hub1.pid, **dep.valkey.pids()})
        watch.start()
        dep.profile(True)
        t_kill = time.monotonic_ns()
        os.kill(dep.hubs[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + cfg.size(60, 40)
        t99 = t100 = None
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if t99 is None and len(resumed) >= 0.99 * n:
                t99 = (sorted(resumed)[int(0.99 * n) - 1] - t_kill) / 1e9
            if len(resumed) >= n:
                t100 = (max(resumed) - t_kill) / 1e9
                break
        cpu = watch.stop()
        dep.profile(False)
        await asyncio.sleep(3.0)
        stop.set()
        await task
        # settle: everything acknowledged and delivered, or give up after a while
        settle_end = time.monotonic() + 15
        while time.monotonic() < settle_end:
            if not any(v.unacked for v in visitors) and not any(
                    a.unacked for a in agents.values()):
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(2.0)
        lost = 0
        examples: list[str] = []
        for k, text, direction in sent:
            receiver = agent_of[k] if direction == 0 else visitors[k]
            texts = {m["text"] for m in receiver.messages.get(chats[k], [])}
            if text not in texts:
                lost += 1
                if len(examples) < 5:
                    examples.append(f"chat {chats[k]} {'v->a' if direction == 0 else 'a->v'}")
        resumed_sorted = sorted(resumed)
        welcomed = sorted(v.welcomed_at - t_kill for v in visitors if v.welcomed_at > t_kill)
        lags = sorted(v.resumed_at - v.welcomed_at for v in visitors
                      if v.welcomed_at > t_kill and v.resumed_at >= v.welcomed_at)
        late99 = late100 = None
        if len(resumed_sorted) >= 0.99 * n:
            late99 = round((resumed_sorted[int(0.99 * n) - 1] - t_kill) / 1e9, 3)
        if len(resumed_sorted) >= n:
            late100 = round((resumed_sorted[-1] - t_kill) / 1e9, 3)
        out.update({
            "kill_to_99pct_resumed_s": round(t99, 3) if t99 is not None else None,
            "kill_to_all_resumed_s": round(t100, 3) if t100 is not None else None,
            "resumed": len(resumed),
            "watched_s": cfg.size(60, 40),
            "eventually_99pct_resumed_s": late99,
            "eventually_all_resumed_s": late100,
            "resume_p50_s": round((resumed_sorted[len(resumed_sorted) // 2] - t_kill) / 1e9, 3)
            if resumed_sorted else None,
            # where the time goes: the handshake (kill -> welcome) or what follows it
            "welcomed_p50_p99_s": [round(welcomed[int(q * (len(welcomed) - 1))] / 1e9, 3)
                                   for q in (0.5, 0.99)] if welcomed else None,
            "welcome_to_resumed_p50_p99_max_s": [
                round(lags[int(q * (len(lags) - 1))] / 1e9, 3) for q in (0.5, 0.99, 1.0)]
            if lags else None,
            "messages_sent": len(sent),
            "messages_lost": lost,
            "lost_examples": examples,
            "duplicates_dropped_by_clients": sum(c.duplicates for c in
                                                 [*visitors, *agents.values()]),
            "still_unacked": sum(len(c.unacked) for c in [*visitors, *agents.values()]),
            "delivery_latency_ms": lat.summary(),
            "cpu_during_storm": cpu,
            "reconnects": sum(max(0, v.connects - 1) for v in visitors),
            # failed reconnection attempts by cause (http_503: refused by admission)
            "failed_attempts": dict(sum((v.failures for v in visitors), Counter())),
        })
        log(f"    storm: 99% resumed in {out['kill_to_99pct_resumed_s']}s, all in "
            f"{out['kill_to_all_resumed_s']}s ({len(resumed)}/{n}); lost {lost} of "
            f"{len(sent)}; latency {lat.summary()}; cpu {cpu['cpu_pct']}; failed attempts "
            f"{out['failed_attempts']}")
    finally:
        await close_all([*visitors, *agents.values()])
        await asyncio.to_thread(dep.stop)
        out["hub_log_problems"] = dep.log_summary
    return out
