"""Scenario connect: 2,000 sockets connected and 1,000 chats started and assigned on one hub
(issue 10, item 5; the outside harness took 13.9 s where python-socketio took 2.3 s).

One hub and its Valkey on the server core(s), the generator on the other, auto-accept on.
1,000 agents of capacity 1 exist already (created through the REST API before the clock
starts, tokens signed with the deployment's key as ``/api/login`` would).  Timed:

1. the agents' sockets connect (``/ws/agent`` until its ``welcome``);
2. the visitors' sockets connect and each sends ``start`` as soon as it has its
   ``welcome`` (``/ws/visitor``, then ``start`` until its reply);
3. until every chat's ``assigned`` reached its agent.

The agents connect before the visitors start so that no chat is queued for an agent that
is still connecting (the hub could then send ``assigned`` before ``welcome``, issue 10,
item 4).  With ``--profile`` the hub runs under pyinstrument for the whole timed window
(profile in ``bench/results/profiles/connect/``); the timing is then distorted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.config import Config, Log
from bench.hist import Histogram
from bench.loadgen import CpuWatch, wait_quiet
from bench.ours import RETRIES, BenchClient, Product, close_all, gather_limited, start_chat
from bench.procs import Deployment


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    n_chats = cfg.size(1000, 1000)
    concurrency = 100
    layout = cfg.layout()
    dep = Deployment(1, hub_cpus=[layout.get("hub0")], redis_cpus=layout.get("redis"),
                     profile_dir=cfg.profile_dir("connect"), auto_accept="true")
    out: dict[str, Any] = {"sockets": 2 * n_chats, "chats": n_chats,
                           "client_concurrency": concurrency, "profiled": cfg.profile}
    clients: list[BenchClient] = []
    assigned: set[str] = set()
    done = asyncio.Event()

    def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
        if frame.get("type") == "assigned":
            assigned.add(frame["chat"]["id"])
            if len(assigned) >= n_chats:
                done.set()

    try:
        await asyncio.to_thread(dep.start)
        product = Product(dep)
        await product.start()
        tokens = await product.add_agents([(f"ca{i:04d}", 1, {}) for i in range(n_chats)])
        url = dep.urls[0]
        await wait_quiet(dep.pids())
        agent_ms, visitor_ms, start_ms = Histogram(), Histogram(), Histogram()

        async def agent(token: str) -> None:
            t = time.monotonic_ns()
            c: BenchClient = await BenchClient.agent(url, token)  # type: ignore[assignment]
            c.on_frame = on_frame
            c.lean = True
            clients.append(c)
            agent_ms.record((time.monotonic_ns() - t) // 1000)

        async def visitor(k: int) -> None:
            t = time.monotonic_ns()
            c: BenchClient = await BenchClient.visitor(url)  # type: ignore[assignment]
            c.lean = True
            clients.append(c)
            t1 = time.monotonic_ns()
            visitor_ms.record((t1 - t) // 1000)
            await start_chat(c, "general", f"connect {k}")
            start_ms.record((time.monotonic_ns() - t1) // 1000)

        watch = CpuWatch(dep.pids())
        dep.profile(True)
        watch.start()
        t0 = time.monotonic()
        await gather_limited((agent(tok) for tok in tokens.values()), concurrency)
        t_agents = time.monotonic()
        await gather_limited((visitor(k) for k in range(n_chats)), concurrency)
        t_started = time.monotonic()
        try:
            await asyncio.wait_for(done.wait(), 120)
        except TimeoutError:
            log(f"   connect: only {len(assigned)} of {n_chats} assigned within 120 s")
        t_end = time.monotonic()
        cpu = watch.stop()
        dep.profile(False)
        out.update({
            "agents_connected_s": round(t_agents - t0, 2),
            "visitors_connected_and_started_s": round(t_started - t_agents, 2),
            "last_assigned_after_starts_s": round(t_end - t_started, 2),
            "all_assigned_s": round(t_end - t0, 2) if len(assigned) >= n_chats else None,
            "assigned": len(assigned),
            "agent_connect_ms": agent_ms.summary(),
            "visitor_connect_ms": visitor_ms.summary(),
            "start_reply_ms": start_ms.summary(),
            "cpu": cpu,
            "client_retries": dict(RETRIES),
        })
        log(f"   connect: {2 * n_chats} sockets, {len(assigned)}/{n_chats} assigned in "
            f"{out['all_assigned_s']} s (agents {out['agents_connected_s']} s, visitors + "
            f"start {out['visitors_connected_and_started_s']} s, last assigned "
            f"{out['last_assigned_after_starts_s']} s later); agent connect p50/p99 "
            f"{agent_ms.summary().get('p50')}/{agent_ms.summary().get('p99')} ms, start "
            f"p50/p99 {start_ms.summary().get('p50')}/{start_ms.summary().get('p99')} ms; "
            f"CPU {cpu['cpu_pct']} other {cpu['foreign_cpu_pct']}%")
    finally:
        await close_all(clients)
        await asyncio.to_thread(dep.stop)
        out["hub_log_problems"] = dep.log_summary
    return out
