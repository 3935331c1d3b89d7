"""Scenario 2, relay: chat pairs, sender on one server process and receiver on another,
the rate stepped up until p99 passes 10 ms; the same ramp for the two baselines.

For the product the sender is the visitor (hub 0) and the receiver the agent (hub 1), so
the latency is visitor -> agent across two processes through Valkey.  After its ramp the
product also runs one longer step at half its sustained rate (the latency target)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.config import Config, Log
from bench.loadgen import CpuWatch, open_loop_step, ramp
from bench.systems import SYSTEMS, make

LOOSE_P99_MS = 200.0
"""Issue 12 runs (``--redis cluster|both``) ramp until p99 passes this, on a machine shared
with other work where 10 ms is often out of reach at any rate; the 10 ms figure is then
read off the same steps (``strict_rate``: the ladder, without its own bisection)."""


def strict_rate(steps: list[Any], limit_ms: float = 10.0) -> float:
    """The highest rate whose step delivered everything with p99 <= ``limit_ms``, every
    lower step having passed too (0 when the first one did not)."""
    best = 0.0
    for s in sorted(steps, key=lambda s: s.rate):
        p99 = s.latency_ms.get("p99")
        if s.received < s.sent or p99 is None or p99 > limit_ms:
            break
        best = s.rate
    return best


async def fixed_rate_cost(cfg: Config, system: Any, pairs: int, log: Log) -> dict[str, Any]:
    """Issue 12: one step at a fixed rate whatever its latency, for the CPU each process
    spends per relayed message (``s_scale.cost_per_message``): unlike the sustained rate,
    CPU seconds per message hardly move when other work on the machine takes the core."""
    from bench.s_scale import cost_per_message

    rate = cfg.size(800.0, 200.0)
    duration = cfg.size(8.0, 4.0)
    watch = CpuWatch(system.pids())  # the same processes idle, as long: their floor
    watch.start()
    await asyncio.sleep(duration)
    idle = watch.stop()
    res = await open_loop_step(system.send, pairs, rate, duration, system.recorder,
                               system.pids())
    out = res.to_json()
    out["idle_cpu"] = idle
    out["cost"] = cost_per_message(out, idle)
    log(f"    fixed {rate:.0f}/s: p50={res.latency_ms.get('p50')} p99="
        f"{res.latency_ms.get('p99')} ms, CPU us/msg {out['cost'].get('us_per_msg')}, "
        f"above idle {out['cost'].get('marginal_us_per_msg')} "
        f"(other {res.cpu.get('foreign_cpu_pct')}%)")
    return out


async def run(cfg: Config, log: Log, systems: tuple[str, ...] = tuple(SYSTEMS)) -> dict[str, Any]:
    pairs = cfg.size(200, 100)
    step_s = cfg.size(5.0, 3.0)
    factor = cfg.size(1.5, 2.0)
    bisect = cfg.size(2, 1)
    budget = cfg.size(110.0, 30.0)
    out: dict[str, Any] = {"pairs": pairs, "step_s": step_s, "warmup_s": 1.0,
                           "p99_limit_ms": 10.0, "systems": {}}
    workdir = Path(tempfile.mkdtemp(prefix="lc-bench-relay-"))
    for name in systems:
        layout = cfg.layout(cfg.profile_dir("relay") if name == "ours" else None)
        system = make(name, layout, workdir)
        log(f"  relay: {system.label}")
        entry: dict[str, Any] = {"label": system.label}
        try:
            await system.start()
            await system.make_pairs(pairs)
            dep = getattr(system, "dep", None)
            if dep is not None:
                dep.profile(True)
            steps, best = await ramp(
                system.send, pairs, system.recorder, system.pids(),
                start_rate=50.0, factor=factor, max_rate=60_000.0, step_s=step_s,
                bisect=bisect, budget_s=budget, log=log,
                p99_limit_ms=LOOSE_P99_MS if cfg.compare else 10.0,
            )
            if cfg.compare:
                entry["sustained_rate_p99_200ms"] = round(best, 1)
                best = strict_rate(steps)
            if dep is not None:
                dep.profile(False)
            entry["steps"] = [s.to_json() for s in steps]
            entry["hists"] = {f"{s.rate:.0f}": s.hist for s in steps}
            entry["sustained_rate"] = round(best, 1)
            good = [s for s in steps if s.ok and s.rate == best]
            if good:
                entry["at_sustained"] = good[-1].to_json()
            if name == "ours" and cfg.compare:
                entry["fixed_rate"] = await fixed_rate_cost(cfg, system, pairs, log)
            if name == "ours" and best > 0:
                half = await open_loop_step(system.send, pairs, best / 2,
                                            cfg.size(8.0, 4.0), system.recorder,
                                            system.pids())
                entry["half_rate"] = half.to_json()
                log(f"    half rate {best / 2:.0f}/s: p50={half.latency_ms.get('p50')} "
                    f"p99={half.latency_ms.get('p99')} ms ({half.reason})")
        except Exception as exc:  # a baseline that cannot run must not sink the suite
            log(f"    {name} failed: {exc!r}")
            entry["error"] = repr(exc)
        finally:
            await system.stop()
        entry["describe"] = {k: (str(v) if k == "layout" else v)
                             for k, v in system.describe().items()}
        out["systems"][name] = entry
    shutil.rmtree(workdir, ignore_errors=True)
    sysr = out["systems"]
    ours = sysr.get("ours", {}).get("sustained_rate", 0)
    for base in ("raw_ws", "socketio"):
        rate = sysr.get(base, {}).get("sustained_rate", 0)
        out[f"ratio_to_{base}"] = round(ours / rate, 3) if rate else None
    return out
