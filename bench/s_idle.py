"""Scenario 1, idle capacity: visitor sockets connected to one hub and left idle.

Resident memory per connection is the hub's RSS growth divided by the connections added
(measured from a warm state: a few hundred connections already open, so one-off
allocations are not charged to them).  Connect rate counts completed handshakes including
the welcome frame.  The open-files limit (hard limit of this machine) bounds N.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
from typing import Any

from bench.config import Config, Log
from bench.loadgen import CpuWatch, rss_bytes
from bench.ours import close_all, connect_visitors
from bench.procs import Deployment

WARM = 300


async def run(cfg: Config, log: Log) -> dict[str, Any]:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    top = min(18_000, limit - 1_500)
    targets = cfg.size([10_000, top], [2_000, 5_000])
    dep = Deployment(1, hub_cpus=[cfg.server_cpus], redis_cpus=cfg.server_cpus,
                     profile_dir=cfg.profile_dir("idle"))
    out: dict[str, Any] = {"nofile_limit": limit, "steps": []}
    clients: list[Any] = []
    await asyncio.to_thread(dep.start)
    try:
        hub = dep.hubs[0]
        clients += await connect_visitors(dep.urls, WARM, concurrency=50)
        await asyncio.sleep(2.0)
        base_rss = rss_bytes(hub.pid)
        base_valkey = rss_bytes(dep.valkey.pid)
        out["warm_connections"] = WARM
        out["hub_rss_warm_mib"] = round(base_rss / 2**20, 1)
        dep.profile(True)
        for target in targets:
            add = target - len(clients)
            if add <= 0:
                continue
            watch = CpuWatch(dep.pids())
            watch.start()
            t0 = time.monotonic()
            clients += await connect_visitors(dep.urls, add, concurrency=100)
            dt = time.monotonic() - t0
            cpu = watch.stop()
            gc.collect()
            await asyncio.sleep(3.0)  # let the hub settle (writer tasks idle, GC)
            rss = rss_bytes(hub.pid)
            vrss = rss_bytes(dep.valkey.pid)
            n = len(clients) - WARM
            step = {
                "connections": len(clients),
                "connect_rate_per_s": round(add / dt, 1),
                "connect_s": round(dt, 2),
                "hub_rss_mib": round(rss / 2**20, 1),
                "rss_per_connection_kib": round((rss - base_rss) / n / 1024, 2),
                "valkey_rss_per_connection_kib": round((vrss - base_valkey) / n / 1024, 2),
                "cpu_during_connect": cpu,
            }
            out["steps"].append(step)
            log(f"    {len(clients)} idle: {step['rss_per_connection_kib']} KiB/conn, "
                f"{step['connect_rate_per_s']} connects/s, hub RSS {step['hub_rss_mib']} MiB"
                f" (cpu {cpu['cpu_pct']})")
        dep.profile(False)
        # still alive: every socket open, the hub answers
        alive = sum(1 for c in clients if c.connected.is_set())
        out["alive_at_end"] = alive
    finally:
        await close_all(clients)
        await asyncio.to_thread(dep.stop)
        out["hub_log_problems"] = dep.log_summary
    steps = out["steps"]
    if steps:
        out["rss_per_connection_kib"] = steps[-1]["rss_per_connection_kib"]
        out["max_connections"] = steps[-1]["connections"]
        out["connect_rate_per_s"] = min(s["connect_rate_per_s"] for s in steps)
    return out
