"""Scenario 3, routing burst: 1,000 agents with 20 skills and mixed capacities on two hubs.

Two phases on the same agents:

- backlog: thousands of chats are queued while every agent is away; then all agents go
  online at once and the hubs offer the whole backlog.  Assignments per second =
  assignments committed (routing event log) / (time from the release to the last one).
  This is the routing throughput itself (creating the chats is not in it).  Offers that
  reached the agents' sockets are counted too: an assignment whose offer never arrives is
  a lost notification.
- arrival: with agents online, thousands of visitors send ``start`` at once; assignment
  latency per chat = offer received by the agent - ``start`` sent by the visitor (client
  side), and created -> assigned from the event log (server side, ms resolution).

Afterwards the routing event log is replayed (``tests.audit.replay``: no chat assigned
twice, no agent above capacity at any point) and the final Redis state checked
(``tests.audit.final_state``).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.config import Config, Log
from bench.hist import Histogram
from bench.loadgen import CpuWatch, wait_quiet
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

SKILLS = [f"s{k:02d}" for k in range(20)]


def topics(rng: random.Random) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for k in range(20):
        if k < 15:
            out[f"t{k:02d}"] = {SKILLS[k]: rng.choice([0, 2, 4])}
        else:
            out[f"t{k:02d}"] = {SKILLS[k]: 0, SKILLS[(k + 3) % 20]: 3}
    return out


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    from tests.audit import final_state, replay

    rng = random.Random(20261123)
    n_agents = cfg.size(1000, 300)
    n_backlog = cfg.size(3000, 800)
    n_arrival = cfg.size(1500, 400)
    dep = Deployment(2, hub_cpus=[cfg.server_cpus] * 2, redis_cpus=cfg.server_cpus,
                     backend=cfg.redis,
                     profile_dir=cfg.profile_dir("routing"), offer_timeout_s="900",
                     auto_accept="false")
    out: dict[str, Any] = {"agents": n_agents, "skills": len(SKILLS), "topics": 20,
                           "backlog_chats": n_backlog, "arrival_chats": n_arrival}
    agents: dict[str, BenchClient] = {}
    visitors: list[BenchClient] = []
    await asyncio.to_thread(dep.start)
    try:
        product = Product(dep)
        await product.start()
        tps = topics(rng)
        for name, req in tps.items():
            await product.set_topic(name, req, priority=rng.choice([3, 5, 7]))
        caps: dict[str, int] = {}
        specs = []
        for i in range(n_agents):
            aid = f"ag{i:04d}"
            caps[aid] = rng.choice([1, 2, 3, 4, 5, 6, 8])
            skills = {s: rng.randint(1, 10) for s in rng.sample(SKILLS, rng.randint(3, 6))}
            specs.append((aid, caps[aid], skills))
        out["total_capacity"] = sum(caps.values())
        t0 = time.monotonic()
        tokens = await product.add_agents(specs)
        log(f"    {n_agents} agents created in {time.monotonic() - t0:.1f}s")

        offers: dict[str, int] = {}
        offered_to: dict[str, str] = {}

        def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("type") == "offer":
                cid = frame["chat"]["id"]
                offers.setdefault(cid, now)
                offered_to[cid] = str(client.welcome.get("agent", {}).get("id", ""))

        t0 = time.monotonic()
        agents = await connect_agents(dep.urls, tokens, placement=lambda i: i % 2)
        for a in agents.values():
            a.on_frame = on_frame
        await gather_limited((request_retry(a, {"type": "status", "status": "away"})
                              for a in agents.values()), 100)
        log(f"    agents connected and away in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()
        visitors = []
        for server in (0, 1):
            visitors += await connect_visitors(dep.urls, (n_backlog + n_arrival) // 2,
                                               server=server, concurrency=100)
        rng.shuffle(visitors)
        log(f"    {len(visitors)} visitors connected in {time.monotonic() - t0:.1f}s")
        topic_names = list(tps)
        chat_ids: list[str] = []

        async def start(v: BenchClient, record: dict[str, int] | None = None) -> str:
            t = time.monotonic_ns()
            chat_id = await start_chat(v, rng.choice(topic_names), "burst")
            if record is not None:
                record[chat_id] = t
            return chat_id

        # ---- backlog ---------------------------------------------------------------------
        backlog, arrival = visitors[:n_backlog], visitors[n_backlog:]
        t0 = time.monotonic()
        chat_ids += await gather_limited((start(v) for v in backlog), 100)
        backlog_ids = set(chat_ids)
        log(f"    backlog: {len(backlog)} chats queued in {time.monotonic() - t0:.1f}s")
        await wait_quiet(dep.pids())
        watch = CpuWatch(dep.pids())
        watch.start()
        dep.profile(True)
        release_ms = time.time() * 1000
        release = time.monotonic_ns()
        await gather_limited((request_retry(a, {"type": "status", "status": "online"})
                              for a in agents.values()), 1000)
        online_s = (time.monotonic_ns() - release) / 1e9
        settled = await _settle(offers, 3.0, 120.0)
        backlog_cpu = watch.stop()

        # ---- arrival burst ---------------------------------------------------------------
        sent_at: dict[str, int] = {}
        await wait_quiet(dep.pids())
        watch = CpuWatch(dep.pids())
        watch.start()
        burst_ms = time.time() * 1000
        t_burst = time.monotonic_ns()
        arrival_ids = await gather_limited((start(v, sent_at) for v in arrival), 2000)
        created_s = (time.monotonic_ns() - t_burst) / 1e9
        chat_ids += arrival_ids
        settled_arrival = await _settle(offers, 3.0, 120.0)
        arrival_cpu = watch.stop()
        dep.profile(False)

        # ---- figures from the event log (server side) and the agents (client side) -------
        events = await product.events()
        assigned_at: dict[str, int] = {}
        created = {e["chat"]: int(e["ts"]) for e in events if e.get("t") == "created"}
        for e in events:
            if e.get("t") == "assign":
                assigned_at.setdefault(e["chat"], int(e["ts"]))
        b_assigned = [assigned_at[c] for c in backlog_ids if c in assigned_at]
        b_span = (max(b_assigned) - release_ms) / 1000 if b_assigned else 0.0
        b_offers = [offers[c] for c in backlog_ids if c in offers]
        b_offer_span = (max(b_offers) - release) / 1e9 if b_offers else 0.0
        out["backlog"] = {
            "assigned": len(b_assigned),
            "agents_online_s": round(online_s, 3),
            "release_to_last_assign_s": round(b_span, 3),
            "assignments_per_s": round(len(b_assigned) / b_span, 1) if b_span > 0 else 0,
            "offers_received": len(b_offers),
            "release_to_last_offer_s": round(b_offer_span, 3),
            "offers_received_per_s": round(len(b_offers) / b_offer_span, 1)
            if b_offer_span > 0 else 0,
            "settled": settled,
            "cpu": backlog_cpu,
        }
        log(f"    backlog: {len(b_assigned)} assigned in {b_span:.2f}s = "
            f"{out['backlog']['assignments_per_s']}/s; {len(b_offers)} offers received "
            f"(cpu {backlog_cpu['cpu_pct']}, other {backlog_cpu['foreign_cpu_pct']}%)")
        a_assigned = [c for c in arrival_ids if c in assigned_at]
        a_span = (max(assigned_at[c] for c in a_assigned) - burst_ms) / 1000 \
            if a_assigned else 0.0
        server_lat = Histogram()
        for c in a_assigned:
            if c in created:
                server_lat.record((assigned_at[c] - created[c]) * 1000)
        lat = Histogram()
        got = [c for c in arrival_ids if c in offers]
        for c in got:
            lat.record((offers[c] - sent_at[c]) // 1000)
        # the same path cut in three on one clock (the wall clock, ms): sent -> created
        # (the start's own steps), created -> assigned (waiting for a routing pass),
        # assigned -> offer received (the announcement and its delivery)
        phases = {"sent_to_created": Histogram(), "created_to_assigned": Histogram(),
                  "assigned_to_offer": Histogram()}
        for c in got:
            if c not in created or c not in assigned_at:
                continue
            sent_wall = burst_ms + (sent_at[c] - t_burst) / 1e6
            offer_wall = burst_ms + (offers[c] - t_burst) / 1e6
            phases["sent_to_created"].record(int(max(0.0, created[c] - sent_wall) * 1000))
            phases["created_to_assigned"].record((assigned_at[c] - created[c]) * 1000)
            phases["assigned_to_offer"].record(
                int(max(0.0, offer_wall - assigned_at[c]) * 1000))
        out["arrival"] = {
            "chats": len(arrival_ids),
            "start_replies_s": round(created_s, 3),
            "assigned": len(a_assigned),
            "burst_to_last_assign_s": round(a_span, 3),
            "assignments_per_s": round(len(a_assigned) / a_span, 1) if a_span > 0 else 0,
            "server_created_to_assign_ms": server_lat.summary(),
            "offers_received": len(got),
            "latency_ms": lat.summary(),
            "phases_ms": {k: h.summary() for k, h in phases.items()},
            "settled": settled_arrival,
            "cpu": arrival_cpu,
        }
        log(f"    arrival: {len(a_assigned)}/{len(arrival_ids)} assigned, "
            f"{out['arrival']['assignments_per_s']}/s; created -> assigned "
            f"{server_lat.summary()}; start -> offer at the agent {lat.summary()}")
        log("    arrival phases (p50/p99 ms): " + ", ".join(
            f"{k} {v['p50']:.0f}/{v['p99']:.0f}" for k, v in out["arrival"]["phases_ms"].items()
            if v.get("count")))

        # ---- audit -----------------------------------------------------------------------
        audit = replay(events, caps)
        redis = product.redis()
        try:
            problems = await final_state(redis, dep.prefix, chat_ids)
            queued = 0
            for c in chat_ids:
                st = await redis.hget(f"{dep.prefix}:{{rt}}:chat:{c}", "state")
                queued += st == b"queued"
        finally:
            await redis.aclose()
        out["audit"] = {
            "events": len(events),
            "assignments_replayed": audit.assignments,
            "violations": len(audit.violations),
            "violation_examples": audit.violations[:5],
            "final_state_problems": len(problems),
            "problem_examples": problems[:5],
            "offers_received": len(offers),
            "assigned_without_offer_received": sum(1 for c in assigned_at if c not in offers),
            "still_queued": queued,
            "max_load_over_capacity": sum(
                1 for a, m in audit.max_load.items() if m > caps.get(a, 0)),
        }
        log(f"    audit: {audit.assignments} assignments, {len(audit.violations)} violations,"
            f" {len(problems)} state problems, {queued} still queued (no eligible capacity)")
    finally:
        await close_all([*visitors, *agents.values()])
        await asyncio.to_thread(dep.stop)
        out["hub_log_problems"] = dep.log_summary
    out["assignments_per_s"] = out.get("backlog", {}).get("assignments_per_s", 0)
    return out


async def _settle(offers: dict[str, int], quiet_s: float, limit_s: float) -> bool:
    """Wait until no new offer arrived for ``quiet_s`` (or ``limit_s`` passed)."""
    t_end = time.monotonic() + limit_s
    last_n, last_change = len(offers), time.monotonic()
    while time.monotonic() < t_end:
        await asyncio.sleep(0.1)
        if len(offers) != last_n:
            last_n, last_change = len(offers), time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return True
    return False
