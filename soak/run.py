"""One soak run, in phases:

1. setup: PostgreSQL, Valkey, hubs, worker, proxies; topics and agents; clients connect;
2. warm-up (no faults), then the first memory sample;
3. faults under load for ``seconds``;
4. everything restored, the load stops, deliveries settle; delivery and routing audits;
5. the visitors leave: no live chat may lack a live participant (its online agent);
6. the agents vanish: no chat may stay live at all;
7. the outbox drains: records audit; clients closed, processes settle: memory audit.

Every wait is bounded; a phase that runs out of time reports what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from bench.ours import Product
from soak import audit
from soak.config import HUB_SETTINGS, SoakConfig
from soak.faults import Injector
from soak.load import TOPICS, Load, capacity_and_skills
from soak.system import System


def _say(text: str, t0: float) -> None:
    print(f"[{time.monotonic() - t0:7.1f}s] {text}", flush=True)


async def _poll(check: Callable[[], Awaitable[list[str]]], timeout: float,
                every: float = 1.0) -> list[str]:
    """Run ``check`` until it finds nothing or time runs out; its last findings."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = await check()
        except Exception as exc:  # Redis just restarted, etc.: try again
            found = [f"audit could not read: {type(exc).__name__}: {exc}"]
        if not found or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(every)


async def run(cfg: SoakConfig) -> dict[str, Any]:
    t0 = time.monotonic()
    t0_ms = int(time.time() * 1000)
    rng = random.Random(cfg.seed)
    report: dict[str, Any] = {
        "settings": {"seconds": cfg.seconds, "seed": cfg.seed, "hubs": cfg.hubs,
                     "visitors": cfg.visitors, "agents": cfg.agents,
                     "warmup_s": cfg.warmup_s, "hub_settings": HUB_SETTINGS},
        "violations": {}, "faults": {}, "chats": {}, "messages": {}, "memory": {},
    }
    system = System(cfg)
    load: Load | None = None
    tasks: list[asyncio.Task[None]] = []
    injector: Injector | None = None
    redis: Any = None
    try:
        _say("starting PostgreSQL, Valkey, hubs, worker", t0)
        await system.start()
        report["database"] = system.db.kind
        _say(f"up: {cfg.hubs} hubs, worker, database {system.db.kind}", t0)
        redis = aioredis.Redis.from_url(system.valkey.url)

        # ---- topics, agents, clients ---------------------------------------------------
        product = Product(system)  # type: ignore[arg-type]  # a duck-typed Deployment
        await product.start()
        for name, required in TOPICS.items():
            if name != "general":
                await product.set_topic(name, dict.fromkeys(required, 0))
        capacities: dict[str, int] = {}
        specs = []
        for i in range(cfg.agents):
            cap, skills = capacity_and_skills(rng)
            capacities[f"a{i:03d}"] = cap
            specs.append((f"a{i:03d}", cap, skills))
        tokens = await product.add_agents(specs)
        load = Load(system.client_urls, rng)
        for i, agent_id in enumerate(tokens):
            tasks.append(asyncio.create_task(load.agent(agent_id, tokens[agent_id], i)))
        for i in range(cfg.visitors):
            tasks.append(asyncio.create_task(load.visitor(i, min(10.0, cfg.warmup_s))))

        # ---- warm-up -------------------------------------------------------------------
        _say(f"warm-up {cfg.warmup_s:.0f}s: {cfg.visitors} visitors, {cfg.agents} agents", t0)
        await asyncio.sleep(cfg.warmup_s)
        warm = system.rss_mib()
        _say(f"memory after warm-up (MiB): {warm}", t0)

        # ---- faults under load ---------------------------------------------------------
        _say(f"faults for {cfg.seconds:.0f}s", t0)
        # a short soak draws shorter gaps, so that it still sees every kind of fault
        low, high = cfg.fault_gap_s
        gap = (low, max(low + 1.0, min(high, cfg.seconds / 12)))
        injector = Injector(system, rng, gap, started=t0)
        await injector.run(cfg.seconds)
        await injector.restore()
        report["faults"] = {"by_kind": injector.counts(),
                            "total": len(injector.log),
                            "failed": [f.__dict__ for f in injector.log if f.error],
                            "log": [f.__dict__ for f in injector.log]}
        load.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        _say(f"load stopped: {load.stats}", t0)
        report["load"] = dict(load.stats)

        # ---- settle, then delivery and routing audits ---------------------------------
        chat_ids = sorted(load.chats)

        async def connected() -> list[str]:
            return [f"client {c.role} {c.welcome.get('visitor') or c.welcome.get('agent')}"
                    " not connected" for c in load.all_clients() if not c.connected.is_set()]

        holders: dict[str, list[str]] = {}

        async def delivered() -> list[str]:
            nonlocal holders
            routing, _ = await audit.routing(redis, system.prefix, capacities, chat_ids)
            holders = routing["holders"]
            figures, problems = await audit.delivery(redis, system.prefix, load, holders,
                                                     t0_ms)
            report["messages"] = figures
            return problems

        problems = await _poll(connected, 60)
        report["violations"]["clients"] = problems
        report["violations"]["delivery"] = await _poll(delivered, 60, every=2.0)
        # from here on every chat in Redis counts, also those whose ``start`` reply a
        # fault swallowed (the server made the chat; the visitor never learnt its id)
        known = len(chat_ids)
        chat_ids = await audit.all_chat_ids(redis, system.prefix)
        routing, problems = await audit.routing(redis, system.prefix, capacities, chat_ids)
        report["routing"] = routing["figures"]
        report["violations"]["routing"] = problems
        _say(f"delivery: {report['messages']}, {len(report['violations']['delivery'])} "
             f"violations; routing: {routing['figures']}, {len(problems)} violations", t0)

        # ---- the visitors leave; then the agents --------------------------------------
        await load.close_visitors()
        wait = cfg.leave_grace_s + float(HUB_SETTINGS["PRESENCE_TTL_S"]) + 10
        report["violations"]["stuck"] = ["after the visitors left: " + p for p in await _poll(
            lambda: audit.stuck(redis, system.prefix, chat_ids, visitors_live=False,
                                agents_live=True), wait)]
        _say(f"visitors gone: {len(report['violations']['stuck'])} chats stuck", t0)
        await load.close_agents()
        wait += float(HUB_SETTINGS["OFFLINE_GRACE_S"]) + float(HUB_SETTINGS["PRESENCE_TTL_S"])
        report["violations"]["stuck"] += ["after everyone left: " + p for p in await _poll(
            lambda: audit.stuck(redis, system.prefix, chat_ids, visitors_live=False,
                                agents_live=False), wait)]
        _say(f"agents gone: {len(report['violations']['stuck'])} chats stuck in all", t0)

        # ---- records -------------------------------------------------------------------
        async def outbox() -> list[str]:
            n = await redis.xlen(f"{system.prefix}:{{rt}}:outbox")
            return [f"{n} finished chats still in the outbox"] if n else []

        left = await _poll(outbox, 90)
        figures, problems = await audit.records(redis, system.prefix, _db_url(system),
                                                chat_ids)
        report["violations"]["records"] = left + problems
        states = await audit.states(redis, system.prefix, chat_ids)
        by_state: dict[str, int] = {}
        for data in states.values():
            by_state[data.get("state", "?")] = by_state.get(data.get("state", "?"), 0) + 1
        report["chats"] = {"started": len(chat_ids), "by_state": by_state, **figures,
                           "unknown_to_clients": len(chat_ids) - known}
        _say(f"records: {figures}, {len(report['violations']['records'])} violations", t0)

        # ---- memory --------------------------------------------------------------------
        await asyncio.sleep(5)
        end = system.rss_mib()
        table, problems = audit.memory(warm, end, cfg.memory_factor, cfg.memory_slack_mib)
        report["memory"] = table
        report["violations"]["memory"] = problems
        report["log_problems"] = system.log_problems()
    finally:
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if load is not None:
            for c in load.all_clients():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.close(), 5)
        if injector is not None:
            with contextlib.suppress(Exception):
                await injector.restore()
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose()
        await system.stop()
    report["elapsed_s"] = round(time.monotonic() - t0, 1)
    report["violation_count"] = sum(len(v) for v in report["violations"].values())
    return report


def _db_url(system: System) -> str:
    return system.db.url
