"""Scenario relay2: the outside relay harness's shape (issue 10, item 6).

One server process and its Valkey pinned to the server core(s), the generator on the
other; P = 100 and P = 1,000 chat pairs; both sides of every pair send ~100-byte messages,
open loop (``bench.loadgen.open_loop_step``), the total rate stepped up a fixed ladder
until a step has p99 > 200 ms or loses messages.  Per system and P it reports the highest
rate with p99 <= 50 ms and with p99 <= 200 ms (every message delivered), messages lost
(not arrived ``GRACE_S`` after the drain; after the failing step, not arrived once the
backlog stopped arriving), duplicated and refused with an error frame, and
the CPU of the server process and of its Valkey (psutil, per process) at each step.

The systems are in ``bench.systems_pairs``: the product (one hub), python-socketio +
Redis, Node socket.io + Redis (when Node.js is installed) and the raw websockets relay.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.config import Config, Log
from bench.loadgen import QUIET, open_loop_step, wait_quiet
from bench.systems_pairs import PairSystem, available, make

LIMITS_MS = (50.0, 200.0)
LADDER_FULL = [100, 250, 500, 1000, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000, 30_000]
LADDER_QUICK = [250, 500, 1000, 2000, 4000, 8000, 16_000]
GRACE_S = 2.0
"""After a step's drain deadline, how much longer a late message may still arrive before
it counts as lost (a late message already weighs on the percentiles)."""


async def _step(system: PairSystem, pairs: int, rate: float, step_s: float,
                log: Log) -> dict[str, Any]:
    pids = system.pids()
    await wait_quiet(pids)
    refused0 = system.refused
    res = await open_loop_step(system.send, 2 * pairs, rate, step_s, system.recorder, pids,
                               p99_limit_ms=LIMITS_MS[-1])
    rec = system.recorder
    t_end = time.monotonic() + GRACE_S
    while rec.count < res.sent and time.monotonic() < t_end:  # noqa: ASYNC110 (bounded)
        await asyncio.sleep(0.05)
    out = res.to_json()
    out["lost"] = res.sent - rec.count
    out["late"] = rec.count - res.received
    out["duplicated"] = rec.dups
    out["refused"] = system.refused - refused0
    p99 = res.latency_ms.get("p99")
    delivered = out["lost"] == 0 and out["late"] == 0 and res.reason.find("send err") < 0
    out["pass_ms"] = {f"{lim:g}": bool(delivered and p99 is not None and p99 <= lim)
                      for lim in LIMITS_MS}
    cpu = res.cpu.get("cpu_pct", {})
    roles = system.server_pids()
    out["server_cpu_pct"] = round(sum(v for k, v in cpu.items() if roles.get(k) == "server"), 1)
    redis = [v for k, v in cpu.items() if roles.get(k) == "redis"]
    out["redis_cpu_pct"] = round(sum(redis), 1) if redis else None
    log(f"    P={pairs} {system.name:13s} {rate:7.0f}/s  p50={res.latency_ms.get('p50')} "
        f"p99={p99} ms  server={out['server_cpu_pct']}% valkey={out['redis_cpu_pct']}% "
        f"gen_busy={res.gen_busy_pct()}% lag99={res.sender_lag_ms.get('p99')} "
        f"other={res.cpu.get('foreign_cpu_pct')}%  "
        f"lost={out['lost']} late={out['late']} dup={out['duplicated']} "
        f"refused={out['refused']}  {'ok' if out['pass_ms']['200'] else 'FAIL: ' + res.reason}")
    await asyncio.sleep(0.5)
    return out


async def _settle(system: PairSystem, step: dict[str, Any], limit_s: float, log: Log) -> None:
    """After the failing (overloaded) step, wait until the backlog stops arriving (no new
    message for 2 s, at most ``limit_s``): only what never arrives then counts as lost."""
    rec = system.recorder
    t_end = time.monotonic() + limit_s
    last, quiet_since = rec.count, time.monotonic()
    while rec.count < step["sent"] and time.monotonic() < t_end:
        await asyncio.sleep(0.1)
        if rec.count != last:
            last, quiet_since = rec.count, time.monotonic()
        elif time.monotonic() - quiet_since > 2.0:
            break
    arrived_late = step["lost"] - (step["sent"] - rec.count)
    step["late"] += arrived_late
    step["lost"] = step["sent"] - rec.count
    step["duplicated"] = rec.dups
    if arrived_late:
        log(f"    ... {arrived_late} more arrived late; lost {step['lost']}, "
            f"duplicated {step['duplicated']}")


def _best(steps: list[dict[str, Any]], limit: str) -> float:
    """The highest rate passing ``limit`` below the first rate that failed the loosest
    limit (a later lucky step does not count)."""
    best = 0.0
    for s in sorted(steps, key=lambda s: s["rate"]):
        if not s["pass_ms"][f"{LIMITS_MS[-1]:g}"]:
            break
        if s["pass_ms"][limit]:
            best = max(best, s["rate"])
    return best


async def _ramp(system: PairSystem, pairs: int, cfg: Config, log: Log) -> list[dict[str, Any]]:
    ladder = cfg.size(LADDER_FULL, LADDER_QUICK)
    step_s = cfg.size(6.0, 2.5)
    budget = cfg.size(150.0, 40.0)
    t0 = time.monotonic()
    steps: list[dict[str, Any]] = []
    good, bad = 0.0, 0.0
    for rate in ladder:
        if time.monotonic() - t0 > budget:
            break
        s = await _step(system, pairs, float(rate), step_s, log)
        steps.append(s)
        if s["pass_ms"]["200"]:
            good = rate
        else:
            bad = rate
            await _settle(system, s, cfg.size(30.0, 15.0), log)
            break
    if good and bad and not cfg.quick and time.monotonic() - t0 < budget:
        steps.append(await _step(system, pairs, round((good + bad) / 2), step_s, log))
    return steps


async def run(cfg: Config, log: Log, systems: tuple[str, ...] | None = None) -> dict[str, Any]:
    names = list(systems or available())
    pair_counts = (100, 1000)
    out: dict[str, Any] = {
        "pair_counts": list(pair_counts), "step_s": cfg.size(6.0, 2.5), "warmup_s": 1.0,
        "limits_ms": list(LIMITS_MS), "grace_s": GRACE_S, "message_bytes": 100,
        "ladder": cfg.size(LADDER_FULL, LADDER_QUICK), "quiet_threshold_pct":
        QUIET["threshold_pct"], "systems": {}, "by_pairs": {}}
    workdir = Path(tempfile.mkdtemp(prefix="lc-bench-relay2-"))
    try:
        for pairs in pair_counts:
            per: dict[str, Any] = {}
            out["by_pairs"][str(pairs)] = per
            for name in names:
                layout = cfg.layout(cfg.profile_dir(f"relay2-p{pairs}")
                                    if name == "ours" else None)
                layout["hub1"] = None
                system = make(name, layout, workdir)
                out["systems"][name] = system.label
                log(f"  relay2 P={pairs}: {system.label}")
                entry: dict[str, Any] = {"label": system.label}
                t0 = time.monotonic()
                try:
                    await system.start()
                    await system.make_pairs(pairs)
                    entry["setup_s"] = round(time.monotonic() - t0, 1)
                    dep = getattr(system, "dep", None)
                    if dep is not None:
                        dep.profile(True)
                    entry["steps"] = await _ramp(system, pairs, cfg, log)
                    if dep is not None:
                        dep.profile(False)
                except Exception as exc:  # a system that cannot run must not sink the suite
                    log(f"    {name} failed: {exc!r}")
                    entry["error"] = repr(exc)
                finally:
                    await system.stop()
                steps = entry.get("steps", [])
                for lim in LIMITS_MS:
                    entry[f"best_p99_{lim:g}ms"] = _best(steps, f"{lim:g}") if steps else None
                entry["lost"] = sum(s["lost"] for s in steps)
                entry["duplicated"] = sum(s["duplicated"] for s in steps)
                entry["refused"] = sum(s["refused"] for s in steps)
                entry["describe"] = system.describe()
                per[name] = entry
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for pairs, per in out["by_pairs"].items():
        ours = per.get("ours", {})
        for base in names:
            if base.startswith("ours"):
                continue
            for lim in LIMITS_MS:
                key = f"best_p99_{lim:g}ms"
                a, b = ours.get(key), per.get(base, {}).get(key)
                out.setdefault("ratios", {}).setdefault(pairs, {})[f"{base}_{lim:g}ms"] = (
                    round(a / b, 3) if a is not None and b else None)
    return out
