"""The open-loop load generator.

Messages go out on a fixed schedule (message ``i`` is due at ``start + i / rate``), whatever
the system under test does; each carries its intended send time in its text, and its
latency is measured on receipt from that intended time, so a stalled server or a late
sender is charged in full (no coordinated omission).  Percentiles come from
``bench.hist.Histogram``.

Timers of an asyncio loop fire with about a millisecond of slack, which would show up as
latency; the sender therefore sleeps until shortly before a message is due and then yields
(``sleep(0)``) until it is.  That keeps the loop serving receives while it waits, but makes
the generator's CPU read near 100 %: the time spent idling in that wait is measured and
reported as ``gen_idle_spin_s``, and ``gen_busy`` is the CPU share left after removing it.
How late each message actually left is reported as ``sender_lag`` (a saturated generator
shows there first).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.hist import Histogram

PAD = "x" * 48


def make_text(intended_ns: int, index: int) -> str:
    return f"{intended_ns}:{index}:{PAD}"


def parse_text(text: str) -> tuple[int, int]:
    a, b, _ = text.split(":", 2)
    return int(a), int(b)


class GcWatch:
    """Pauses of the generator's own garbage collector during a step."""

    def __init__(self) -> None:
        self.hist = Histogram()
        self._t = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter_ns()
        elif self._t:
            self.hist.record((time.perf_counter_ns() - self._t) // 1000)

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self)


class Recorder:
    """Receipts of one step: latency from the intended time, and which arrived."""

    def __init__(self) -> None:
        self.reset(0, 0)

    def reset(self, total: int, measure_from_ns: int) -> None:
        self.hist = Histogram()
        self.received = bytearray(total)
        self.measure_from = measure_from_ns
        self.count = 0
        self.dups = 0
        self.stray = 0
        self.last_ns = 0
        self.intended: list[int] = [0] * total

    def hit(self, text: str, now_ns: int) -> None:
        try:
            intended, index = parse_text(text)
        except ValueError:
            self.stray += 1
            return
        if index >= len(self.received) or self.intended[index] != intended:
            self.stray += 1  # from an earlier step
            return
        if self.received[index]:
            self.dups += 1
            return
        self.received[index] = 1
        self.count += 1
        self.last_ns = now_ns
        if intended >= self.measure_from:
            self.hist.record((now_ns - intended) // 1000)


class CpuWatch:
    """CPU seconds of named processes between ``start`` and ``stop``."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.procs: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self.procs[name] = psutil.Process(pid)
        self.procs.setdefault("generator", psutil.Process(os.getpid()))
        self._t0 = 0.0
        self._c0: dict[str, float] = {}

    def _cpu(self) -> dict[str, float]:
        out = {}
        for name, p in self.procs.items():
            try:
                t = p.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = self._c0.get(name, 0.0)
        return out

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._c0 = self._cpu()
        self._m0 = machine_busy()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        c1 = self._cpu()
        m1 = machine_busy()
        used = {k: round(c1[k] - self._c0.get(k, 0.0), 3) for k in c1}
        busy = m1[0] - self._m0[0]
        steal = m1[1] - self._m0[1]
        foreign = max(0.0, busy - sum(used.values()))
        return {"wall_s": round(wall, 3), "cpu_s": used,
                "cpu_pct": {k: round(100 * v / wall, 1) if wall else 0.0
                            for k, v in used.items()},
                "foreign_cpu_pct": round(100 * foreign / wall, 1) if wall else 0.0,
                "steal_pct": round(100 * steal / wall, 1) if wall else 0.0}


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> tuple[float, float]:
    """CPU seconds all cores spent busy (user+nice+system+irq+softirq) and stolen."""
    try:
        with open("/proc/stat") as fh:
            parts = fh.readline().split()
    except OSError:
        return 0.0, 0.0
    v = [int(x) for x in parts[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    steal = v[7] if len(v) > 7 else 0
    return busy / _TICK, steal / _TICK


def rss_bytes(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


QUIET = {"threshold_pct": 30.0, "max_wait_s": 30.0, "waited_s": 0.0}
"""Other work on the machine (tests of other people, CI) distorts latency: before each
step the bench waits (bounded) until the machine is quiet; a failed step that ran beside
heavy foreign load is repeated."""


async def wait_quiet(pids: Mapping[str, int], max_wait_s: float | None = None) -> float:
    """Wait until the CPU used by processes other than ours (``pids`` and this one) stays
    below QUIET['threshold_pct'] for half a second; returns the last foreign load seen."""
    limit = QUIET["max_wait_s"] if max_wait_s is None else max_wait_s
    t_end = time.monotonic() + limit
    t0 = time.monotonic()
    foreign = 0.0
    while True:
        watch = CpuWatch(pids)
        watch.start()
        await asyncio.sleep(0.5)
        foreign = watch.stop()["foreign_cpu_pct"]
        if foreign < QUIET["threshold_pct"] or time.monotonic() > t_end:
            QUIET["waited_s"] += time.monotonic() - t0
            return foreign
        await asyncio.sleep(0.5)


@dataclass
class StepResult:
    rate: float
    duration_s: float
    sent: int
    received: int
    latency_ms: dict[str, float]
    sender_lag_ms: dict[str, float]
    send_call_ms: dict[str, float]
    cpu: dict[str, Any]
    gen_idle_spin_s: float
    gen_gc_ms: dict[str, float]
    ok: bool
    reason: str
    hist: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": round(self.rate, 1), "duration_s": self.duration_s, "sent": self.sent,
            "received": self.received, "latency_ms": self.latency_ms,
            "sender_lag_ms": self.sender_lag_ms, "send_call_ms": self.send_call_ms,
            "cpu": self.cpu,
            "gen_idle_spin_s": round(self.gen_idle_spin_s, 3),
            "gen_busy_pct": self.gen_busy_pct(), "gen_gc_pause_ms": self.gen_gc_ms,
            "ok": self.ok, "reason": self.reason,
        }

    def gen_busy_pct(self) -> float:
        wall = self.cpu.get("wall_s", 0) or 1
        used = self.cpu.get("cpu_s", {}).get("generator", 0.0)
        return round(100 * max(0.0, used - self.gen_idle_spin_s) / wall, 1)


SendFn = Callable[[int, str], Awaitable[None]]


async def open_loop_step(
    send: SendFn, n_pairs: int, rate: float, duration_s: float, recorder: Recorder,
    pids: Mapping[str, int], *, warmup_s: float = 1.0, drain_s: float = 3.0,
    p99_limit_ms: float = 10.0,
) -> StepResult:
    """Send ``rate`` messages per second for ``duration_s`` round-robin over the pairs,
    then wait up to ``drain_s`` for the last ones.  Latencies of messages due in the
    first ``warmup_s`` are not counted.  A message that never arrives is counted at the
    drain deadline (so it weighs on the percentiles instead of vanishing)."""
    total = max(1, int(rate * duration_s))
    interval = 1e9 / rate
    now = time.monotonic_ns
    start = now() + 20_000_000
    recorder.reset(total, start + int(warmup_s * 1e9))
    intended = recorder.intended
    for i in range(total):
        intended[i] = start + int(i * interval)
    lag = Histogram()
    send_time = Histogram()
    idle_spin = 0
    # what exists now (clients, setup) is never garbage: keep the collector off it
    gc.collect()
    gc.freeze()
    gcw = GcWatch().__enter__()
    watch = CpuWatch(pids)
    watch.start()
    i = 0
    send_errors = 0
    while i < total:
        due = intended[i]
        t = now()
        if t < due:
            wait = due - t
            if wait > 2_000_000:
                await asyncio.sleep((wait - 1_500_000) / 1e9)
            else:
                await asyncio.sleep(0)
                t2 = now()
                if t2 - t < 30_000:
                    idle_spin += t2 - t
            continue
        while i < total and intended[i] <= t:
            t = now()
            lag.record((t - intended[i]) // 1000)
            try:
                await send(i % n_pairs, make_text(intended[i], i))
            except (ConnectionError, OSError):
                send_errors += 1
            send_time.record((now() - t) // 1000)
            i += 1
    end_sched = intended[-1]
    deadline = end_sched + int(drain_s * 1e9)
    while recorder.count < total and now() < deadline:  # noqa: ASYNC110 (polled, bounded)
        await asyncio.sleep(0.005)
    cpu = watch.stop()
    gcw.__exit__()
    # messages that never arrived weigh as arriving at the deadline
    missing = total - recorder.count
    if missing:
        t_end = max(now(), deadline)
        for k in range(total):
            if not recorder.received[k] and intended[k] >= recorder.measure_from:
                recorder.hist.record((t_end - intended[k]) // 1000)
    lat = recorder.hist.summary()
    ok, reason = True, "ok"
    if missing:
        ok, reason = False, f"{missing} of {total} not received within {drain_s}s"
    elif send_errors:
        ok, reason = False, f"{send_errors} send errors"
    elif lat.get("p99", 0) > p99_limit_ms:
        ok, reason = False, f"p99 {lat.get('p99')} ms > {p99_limit_ms} ms"
    return StepResult(rate=rate, duration_s=duration_s, sent=total, received=recorder.count,
                      latency_ms=lat, sender_lag_ms=lag.summary(),
                      send_call_ms=send_time.summary(), cpu=cpu,
                      gen_idle_spin_s=idle_spin / 1e9, gen_gc_ms=gcw.hist.summary(),
                      ok=ok, reason=reason,
                      hist=recorder.hist.to_json())


async def ramp(
    send: SendFn, n_pairs: int, recorder: Recorder, pids: Mapping[str, int], *,
    start_rate: float, factor: float, max_rate: float, step_s: float, bisect: int,
    budget_s: float, log: Callable[[str], None], p99_limit_ms: float = 10.0,
) -> tuple[list[StepResult], float]:
    """Step the rate up by ``factor`` until a step fails (p99 over the limit or messages
    not delivered), then bisect between the last good and the first bad rate.  Returns
    every step and the highest sustained rate (0 when even the first step failed)."""
    steps: list[StepResult] = []
    good, bad = 0.0, 0.0
    rate = start_rate
    t0 = time.monotonic()

    async def run(r: float) -> StepResult:
        for attempt in range(3):
            await wait_quiet(pids)
            res = await open_loop_step(send, n_pairs, r, step_s, recorder, pids,
                                       p99_limit_ms=p99_limit_ms)
            foreign = res.cpu.get("foreign_cpu_pct", 0.0)
            if res.ok or foreign < QUIET["threshold_pct"] or attempt == 2:
                break
            log(f"    {r:8.0f}/s  failed beside {foreign}% foreign CPU: repeating")
            await asyncio.sleep(1.0)
        steps.append(res)
        cpu = " ".join(f"{k}={v}%" for k, v in res.cpu["cpu_pct"].items())
        log(f"    {r:8.0f}/s  p50={res.latency_ms.get('p50')} p99={res.latency_ms.get('p99')}"
            f" ms  lag99={res.sender_lag_ms.get('p99')}  gen_busy={res.gen_busy_pct()}%"
            f"  send_max={res.send_call_ms.get('max')}"
            f"  gc_max={res.gen_gc_ms.get('max')}  other={res.cpu.get('foreign_cpu_pct')}%"
            f"  {cpu}  {'ok' if res.ok else 'FAIL: ' + res.reason}")
        await asyncio.sleep(0.5)
        return res

    while rate <= max_rate and time.monotonic() - t0 < budget_s:
        res = await run(rate)
        if res.ok:
            good = rate
            rate *= factor
        else:
            bad = rate
            break
    if bad and good:
        for _ in range(bisect):
            if time.monotonic() - t0 > budget_s:
                break
            mid = (good + bad) / 2
            if bad / good < 1.08:
                break
            res = await run(mid)
            if res.ok:
                good = mid
            else:
                bad = mid
    return steps, good
