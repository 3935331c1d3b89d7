"""Scenario scale: the relay rate of one hub process against two (issue 12).

Two deployments on the same backend (one Valkey, or the cluster), one after the other:

- ``hubs=1``: one hub; every pair (a visitor and the agent its chat went to) on it;
- ``hubs=2``: two hubs; pair ``i`` entirely on hub ``i % 2`` (visitor and agent on the same
  hub: topic ``h<k>`` needs skill ``h<k>``, held only by hub ``k``'s agents), so each hub
  carries half the pairs and nothing crosses between hubs except through Redis as usual.

Each is ramped like the relay scenario (open loop, p99 <= 10 ms, every message delivered)
and reports its sustained rate; ``ratio`` = rate with two hubs / rate with one.  The CPU
cost per relayed message of each process at the sustained step (CPU seconds / messages)
says what the rate would be with a core per hub: on a 2-core machine the generator has one
core and every server process (both hubs and every Valkey) shares the other, so two hubs
cannot go faster than one there.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bench.config import Config, Log
from bench.loadgen import Recorder, ramp
from bench.ours import BenchClient, Product, close_all, connect_agents, connect_visitors
from bench.procs import Deployment
from bench.s_relay import LOOSE_P99_MS, fixed_rate_cost, strict_rate
from bench.systems import OursParts

CAPACITY = 4


class HubsLocal(OursParts):
    """``n_hubs`` hubs, each carrying whole pairs (visitor and agent on the same hub)."""

    def __init__(self, n_hubs: int, cfg: Config) -> None:
        self.n_hubs = n_hubs
        self.capacity = CAPACITY
        self.dep = Deployment(n_hubs, hub_cpus=[cfg.server_cpus] * n_hubs,
                              redis_cpus=cfg.server_cpus, backend=cfg.redis,
                              auto_accept="true")
        self.recorder = Recorder()
        self.visitors: list[BenchClient] = []
        self.agents: dict[str, BenchClient] = {}
        self.chats: list[str] = []
        self._cid = itertools.count()

    async def make_pairs(self, n: int) -> None:
        assert isinstance(self.product, Product)
        specs = []
        for h in range(self.n_hubs):
            await self.product.set_topic(f"h{h}", {f"h{h}": 1})
            on_hub = len(range(h, n, self.n_hubs))
            specs += [(f"sc{h}x{i:04d}", CAPACITY, {f"h{h}": 5})
                      for i in range((on_hub + CAPACITY - 1) // CAPACITY)]
        tokens = await self.product.add_agents(specs)
        self.agents = await connect_agents(
            self.dep.urls, tokens, placement=lambda i: int(specs[i][0][2]))
        assigned: set[str] = set()

        def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("type") == "assigned":
                assigned.add(frame["chat"]["id"])

        def on_msg(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("from", {}).get("role") == "visitor":
                self.recorder.hit(frame["text"], now)

        for a in self.agents.values():
            a.on_frame = on_frame
            a.on_msg = on_msg
        per_hub = [await connect_visitors(self.dep.urls, len(range(h, n, self.n_hubs)),
                                          server=h) for h in range(self.n_hubs)]
        # pair i is on hub i % n_hubs
        self.visitors = [per_hub[i % self.n_hubs][i // self.n_hubs] for i in range(n)]
        from bench.ours import await_active, gather_limited, start_chat

        self.chats = await gather_limited(
            (start_chat(v, f"h{i % self.n_hubs}", f"scale {i}")
             for i, v in enumerate(self.visitors)), 50)
        owner = await await_active(self.product, self.chats, self.agents,
                                   lambda c: c in assigned)
        crossed = sum(1 for i, c in enumerate(self.chats)
                      if int(owner[c][2]) != i % self.n_hubs)
        if crossed:
            raise RuntimeError(f"{crossed} chats went to an agent on another hub")
        for c in [*self.visitors, *self.agents.values()]:
            c.lean = True
        await asyncio.sleep(1.0)

    async def send(self, i: int, text: str) -> None:
        await self.visitors[i].say_nowait(self.chats[i], text, f"s{next(self._cid)}")


def _per_msg(cpu_s: dict[str, float], received: int) -> dict[str, float]:
    us = {k: round(1e6 * v / received, 1) for k, v in cpu_s.items()}
    vk = [v for k, v in cpu_s.items() if k.startswith(("vk_", "valkey"))]
    us["valkey_total"] = round(1e6 * sum(vk) / received, 1)
    return us


def cost_per_message(step: dict[str, Any], idle: dict[str, Any] | None = None,
                     ) -> dict[str, Any]:
    """CPU microseconds per relayed message of each process at one step (psutil CPU
    seconds / messages received); with ``idle`` (the same processes' CPU over a window
    without traffic) also above that floor (``marginal_us_per_msg``: timers, cluster bus
    and replication pings cost CPU at any rate)."""
    received = step.get("received") or 0
    cpu_s = step.get("cpu", {}).get("cpu_s", {})
    if not received:
        return {}
    out: dict[str, Any] = {"us_per_msg": _per_msg(cpu_s, received)}
    hubs = [k for k in cpu_s if k.startswith("hub")]
    if hubs:
        per_hub_msgs = received / len(hubs)
        out["hub_us_per_own_msg"] = {k: round(1e6 * cpu_s[k] / per_hub_msgs, 1) for k in hubs}
    if idle and idle.get("wall_s"):
        scale = step.get("cpu", {}).get("wall_s", 0.0) / idle["wall_s"]
        above = {k: max(0.0, v - scale * idle.get("cpu_s", {}).get(k, 0.0))
                 for k, v in cpu_s.items()}
        out["marginal_us_per_msg"] = _per_msg(above, received)
        out["idle_cpu_pct"] = idle.get("cpu_pct")
    return out


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    pairs = cfg.size(200, 100)
    step_s = cfg.size(5.0, 3.0)
    factor = cfg.size(1.5, 2.0)
    bisect = cfg.size(2, 1)
    budget = cfg.size(110.0, 30.0)
    out: dict[str, Any] = {"pairs": pairs, "step_s": step_s, "p99_limit_ms": 10.0,
                           "loose_p99_limit_ms": LOOSE_P99_MS,
                           "backend": cfg.redis, "server_cpus": cfg.server_cpus,
                           "generator_cpus": cfg.generator_cpus, "runs": {}}
    for n_hubs in (1, 2):
        system = HubsLocal(n_hubs, cfg)
        log(f"  scale: {n_hubs} hub(s) on {cfg.redis}")
        entry: dict[str, Any] = {}
        try:
            await system.start()
            await system.make_pairs(pairs)
            steps, best = await ramp(
                system.send, pairs, system.recorder, system.pids(),
                start_rate=50.0, factor=factor, max_rate=60_000.0, step_s=step_s,
                bisect=bisect, budget_s=budget, log=log, p99_limit_ms=LOOSE_P99_MS)
            entry["sustained_rate_p99_200ms"] = round(best, 1)
            best = strict_rate(steps)

            entry["fixed_rate"] = await fixed_rate_cost(cfg, system, pairs, log)
            entry["steps"] = [s.to_json() for s in steps]
            entry["sustained_rate"] = round(best, 1)
            good = [s for s in steps if s.ok and s.rate == best]
            if good:
                entry["at_sustained"] = good[-1].to_json()
                entry["cost"] = cost_per_message(entry["at_sustained"])
        except Exception as exc:
            log(f"    {n_hubs} hub(s) failed: {exc!r}")
            entry["error"] = repr(exc)
        finally:
            await close_all([*system.visitors, *system.agents.values()])
            await asyncio.to_thread(system.dep.stop)
        entry["deployment"] = system.dep.describe()
        entry["hub_log_problems"] = system.dep.log_summary
        out["runs"][str(n_hubs)] = entry
        log(f"    {n_hubs} hub(s): {entry.get('sustained_rate')} msg/s; "
            f"cost {entry.get('cost', {}).get('us_per_msg')}")
    r1 = out["runs"].get("1", {}).get("sustained_rate") or 0
    r2 = out["runs"].get("2", {}).get("sustained_rate") or 0
    out["ratio"] = round(r2 / r1, 3) if r1 else None
    l1 = out["runs"].get("1", {}).get("sustained_rate_p99_200ms") or 0
    l2 = out["runs"].get("2", {}).get("sustained_rate_p99_200ms") or 0
    out["ratio_p99_200ms"] = round(l2 / l1, 3) if l1 else None
    return out
