"""Scenario 4, queue drain: how fast freed capacity is used.

Agents with capacity 1 on two hubs, a deep queue of waiting chats.  Each agent loops:
accept its offer, hold the chat a moment, close it, and time from sending the ``close``
(the moment capacity frees) to receiving the offer of the next queued chat.  The same gap
is read from the routing event log (``end`` -> next ``assign`` of that agent, ms).

Two phases on the same queue, one after the other:

- ``saturated``: each agent holds a chat 20-60 ms, so the 20 agents cycle as fast as the
  hubs let them (100+ chats/s, the server core 100 % busy): the gap measures throughput
  as much as responsiveness (queueing behind other agents' cycles).
- ``paced``: each agent holds a chat 0.5-1.5 s (still hundreds of times faster than real
  chats, which last minutes), so the hubs are loaded but not saturated: the gap is the
  routing reaction time.  This phase is what the target (p99 <= 50 ms) is judged on; both
  are reported.

The queue shrinks during the run from its full depth to zero, so the figures cover deep
and shallow queues (every waiting visitor gets queue-position updates meanwhile, as in
production).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.config import Config, Log
from bench.hist import Histogram
from bench.loadgen import CpuWatch
from bench.ours import (
    BenchClient,
    Product,
    close_all,
    connect_agents,
    connect_visitors,
    gather_limited,
    request_retry,
    start_chat,
)
from bench.procs import Deployment


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    rng = random.Random(7)
    n_agents = 20
    samples = cfg.size(1000, 300)
    dep = Deployment(2, hub_cpus=[cfg.server_cpus] * 2, redis_cpus=cfg.server_cpus,
                     profile_dir=cfg.profile_dir("drain"), offer_timeout_s="120")
    out: dict[str, Any] = {"agents": n_agents, "agent_capacity": 1,
                           "queued_at_start": samples}
    agents: dict[str, BenchClient] = {}
    visitors: list[BenchClient] = []
    await asyncio.to_thread(dep.start)
    try:
        product = Product(dep)
        await product.start()
        tokens = await product.add_agents([(f"d{i:02d}", 1, {}) for i in range(n_agents)])
        inbox: dict[str, asyncio.Queue[tuple[str, int]]] = {a: asyncio.Queue() for a in tokens}

        def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("type") == "offer":
                inbox[str(client.welcome["agent"]["id"])].put_nowait((frame["chat"]["id"], now))

        agents = await connect_agents(dep.urls, tokens, placement=lambda i: i % 2)
        for a in agents.values():
            a.on_frame = on_frame
        # agents away while the queue fills, so every sample is drawn from a deep queue
        await gather_limited((request_retry(a, {"type": "status", "status": "away"})
                              for a in agents.values()), 50)
        phases = {"saturated": (0.02, 0.06), "paced": (0.5, 1.5)}
        total = len(phases) * samples + n_agents
        for server in (0, 1):
            visitors += await connect_visitors(dep.urls, total // 2, server=server,
                                               concurrency=100)
        await gather_limited((start_chat(v, "general", "drain") for v in visitors), 100)
        log(f"    {total} chats queued")
        current: dict[str, str] = {}
        dep.profile(True)
        await gather_limited((request_retry(a, {"type": "status", "status": "online"})
                              for a in agents.values()), 50)

        async def agent_loop(agent_id: str, client: BenchClient, hold: tuple[float, float],
                             left: list[int], closed: list[str], gap: Histogram) -> None:
            chat = current.get(agent_id)
            if chat is None:
                chat, _ = await asyncio.wait_for(inbox[agent_id].get(), 60)
                await request_retry(client, {"type": "accept", "chat": chat}, timeout=30)
            while True:
                await asyncio.sleep(rng.uniform(*hold))
                if left[0] <= 0:
                    current[agent_id] = chat  # carried into the next phase
                    return
                left[0] -= 1
                t0 = time.monotonic_ns()
                await client.send({"type": "close", "chat": chat, "outcome": "resolved"})
                closed.append(chat)
                try:
                    chat, t1 = await asyncio.wait_for(inbox[agent_id].get(), 10)
                except TimeoutError:
                    current.pop(agent_id, None)
                    return  # queue empty
                gap.record((t1 - t0) // 1000)
                await request_retry(client, {"type": "accept", "chat": chat}, timeout=30)

        for phase, (hold_min, hold_max) in phases.items():
            client_gap = Histogram()
            left = [samples]
            closed: list[str] = []
            watch = CpuWatch(dep.pids())
            watch.start()
            t0 = time.monotonic()
            await asyncio.gather(*(agent_loop(a, c, (hold_min, hold_max), left, closed, client_gap)
                                   for a, c in agents.items()))
            elapsed = time.monotonic() - t0
            cpu = watch.stop()
            events = await product.events()
            server_gap = Histogram()
            freed: dict[str, int] = {}
            wanted = set(closed)
            for e in events:
                if e.get("t") == "end" and e.get("agent") and e.get("chat") in wanted:
                    freed[e["agent"]] = int(e["ts"])
                elif e.get("t") == "assign" and e["agent"] in freed:
                    server_gap.record((int(e["ts"]) - freed.pop(e["agent"])) * 1000)
            result = {
                "hold_s": [hold_min, hold_max],
                "samples": client_gap.count,
                "elapsed_s": round(elapsed, 2),
                "cycles_per_s": round(client_gap.count / elapsed, 1),
                "close_to_offer_ms": client_gap.summary(),
                "event_log_end_to_assign_ms": server_gap.summary(),
                "cpu": cpu,
            }
            out[phase] = result
            log(f"    {phase} (hold {hold_min}-{hold_max} s): {result['cycles_per_s']} "
                f"cycles/s; close -> next offer: {client_gap.summary()} (event log: "
                f"{server_gap.summary()}) cpu {cpu['cpu_pct']}")
        dep.profile(False)
        # the target is judged on the paced phase (see the module docstring)
        out.update({k: out["paced"][k] for k in (
            "samples", "elapsed_s", "cycles_per_s", "close_to_offer_ms",
            "event_log_end_to_assign_ms", "cpu")})
    finally:
        await close_all([*visitors, *agents.values()])
        await asyncio.to_thread(dep.stop)
        out["hub_log_problems"] = dep.log_summary
    return out
