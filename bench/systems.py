"""The three systems the relay scenario drives through one adapter interface.

- ``ours``: the product, visitor on hub 0, agent on hub 1, one Valkey, chats routed and
  auto-accepted before the load starts; driven with ``chatserver.client``.
- ``raw_ws``: ``bench.baselines.raw_ws``, one process, no Redis.
- ``socketio``: two ``bench.baselines.socketio_redis`` processes sharing one Valkey,
  sender on the first, receiver on the second (the same topology as ours).

Each pair has a sender and a receiver; ``send(i, text)`` sends ``text`` on pair ``i`` and
the receiver calls ``recorder.hit(text, now_ns)`` when it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from bench.loadgen import Recorder
from bench.ours import (
    BenchClient,
    Product,
    await_active,
    close_all,
    connect_agents,
    connect_visitors,
    gather_limited,
    start_chat,
)
from bench.procs import Deployment, Proc, ValkeyProc, free_port, wait_port


class System:
    name = ""
    label = ""

    def __init__(self, layout: dict[str, Any]) -> None:
        self.layout = layout
        self.recorder = Recorder()

    async def start(self) -> None:
        raise NotImplementedError

    async def make_pairs(self, n: int) -> None:
        raise NotImplementedError

    async def send(self, i: int, text: str) -> None:
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "layout": self.layout}


class OursParts:
    """What the product's relay systems (here ``Ours``; ``systems_pairs.OursPairs``) share:
    the deployment's start, the chats opened and made active, pids, stop and description."""

    dep: Deployment
    product: Product
    capacity: int
    visitors: list[BenchClient]
    agents: dict[str, BenchClient]
    chats: list[str]

    async def start(self) -> None:
        await asyncio.to_thread(self.dep.start)
        self.product = Product(self.dep)
        await self.product.start()

    async def open_chats(self, name: str, assigned: set[str]) -> dict[str, str]:
        """One chat per visitor (named ``name`` and its number), waited for until active
        and followed by its agent; then every client lean.  Returns chat -> agent id."""
        self.chats = await gather_limited(
            (start_chat(v, "general", f"{name} {k}") for k, v in enumerate(self.visitors)), 50)
        owner = await await_active(self.product, self.chats, self.agents,
                                   lambda c: c in assigned)
        for c in [*self.visitors, *self.agents.values()]:
            c.lean = True
        await asyncio.sleep(1.0)  # subscriptions confirmed, catch-ups done
        return owner

    def pids(self) -> dict[str, int]:
        return self.dep.pids()

    async def stop(self) -> None:
        await close_all([*self.visitors, *self.agents.values()])
        await asyncio.to_thread(self.dep.stop)

    def deployment_facts(self) -> dict[str, Any]:
        return {"deployment": self.dep.describe(), "agent_capacity": self.capacity,
                "hub_log_problems": self.dep.log_summary}


class Ours(OursParts, System):
    name = "ours"
    label = "chatserver (2 hubs + Valkey)"

    def __init__(self, layout: dict[str, Any], capacity: int = 4) -> None:
        super().__init__(layout)
        self.capacity = capacity
        self.dep = Deployment(2, hub_cpus=[layout.get("hub0"), layout.get("hub1")],
                              redis_cpus=layout.get("redis"), auto_accept="true",
                              profile_dir=layout.get("profile_dir"),
                              backend=layout.get("backend", "single"))
        if self.dep.backend == "cluster":
            self.label = "chatserver (2 hubs + Valkey cluster, 3 masters + 3 replicas)"
        self.visitors: list[BenchClient] = []
        self.agents: dict[str, BenchClient] = {}
        self.chats: list[str] = []
        self._cid = itertools.count()

    async def make_pairs(self, n: int) -> None:
        n_agents = (n + self.capacity - 1) // self.capacity
        tokens = await self.product.add_agents(
            [(f"ra{i:04d}", self.capacity, {}) for i in range(n_agents)])
        self.agents = await connect_agents(self.dep.urls, tokens, placement=lambda i: 1)
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
        self.visitors = await connect_visitors(self.dep.urls, n, server=0)
        await self.open_chats("bench visitor", assigned)

    async def send(self, i: int, text: str) -> None:
        await self.visitors[i].say_nowait(self.chats[i], text, f"b{next(self._cid)}")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.deployment_facts()}


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(dict[str, Any])


class RawWsProc:
    """The ``bench.baselines.raw_ws`` process of a relay system: started, waited for."""

    port: int
    proc: Proc

    async def start(self) -> None:
        self.proc.start()
        await asyncio.to_thread(wait_port, self.port, 20, self.proc.proc, self.proc.log_path)

    def pids(self) -> dict[str, int]:
        return {"raw_ws": self.proc.pid}


class RawWs(RawWsProc, System):
    name = "raw_ws"
    label = "raw websockets relay (1 process, no Redis)"

    def __init__(self, layout: dict[str, Any], workdir: Any) -> None:
        super().__init__(layout)
        self.port = free_port()
        self.proc = Proc("raw_ws", [sys.executable, "-m", "bench.baselines.raw_ws",
                                    str(self.port)], baseline_env(), workdir, layout.get("hub0"))
        self.senders: list[Any] = []
        self.receivers: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def make_pairs(self, n: int) -> None:
        import websockets

        async def connect(room: int) -> Any:
            return await websockets.connect(f"ws://127.0.0.1:{self.port}/room/{room}",
                                            compression=None, ping_interval=None,
                                            max_size=65536, proxy=None)

        self.senders = await gather_limited((connect(i) for i in range(n)), 100)
        self.receivers = await gather_limited((connect(i) for i in range(n)), 100)
        rec = self.recorder

        async def read(ws: Any, record: bool) -> None:
            with contextlib.suppress(Exception):
                async for data in ws:
                    if record:
                        frame = _dec.decode(data)
                        rec.hit(frame["text"], time.monotonic_ns())

        self.tasks = [asyncio.create_task(read(ws, False)) for ws in self.senders]
        self.tasks += [asyncio.create_task(read(ws, True)) for ws in self.receivers]
        await asyncio.sleep(0.5)

    async def send(self, i: int, text: str) -> None:
        await self.senders[i].send(_enc.encode({"type": "msg", "text": text}))

    async def stop(self) -> None:
        for ws in [*self.senders, *self.receivers]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        for t in self.tasks:
            t.cancel()
        await asyncio.to_thread(self.proc.stop)


class SocketIO(System):
    name = "socketio"
    label = "python-socketio + AsyncRedisManager (2 processes + Valkey)"

    def __init__(self, layout: dict[str, Any], workdir: Any) -> None:
        super().__init__(layout)
        self.valkey = ValkeyProc(workdir, layout.get("redis"))
        self.ports = [free_port(), free_port()]
        self.procs: list[Proc] = []
        self.workdir = workdir
        self.senders: list[Any] = []
        self.receivers: list[Any] = []

    async def start(self) -> None:
        self.valkey.start()
        for k, port in enumerate(self.ports):
            p = Proc(f"sio{k}", [sys.executable, "-m", "bench.baselines.socketio_redis",
                                 str(port), self.valkey.url], baseline_env(), self.workdir,
                     self.layout.get(f"hub{k}"))
            p.start()
            self.procs.append(p)
        for p, port in zip(self.procs, self.ports, strict=True):
            await asyncio.to_thread(wait_port, port, 20, p.proc, p.log_path)

    async def make_pairs(self, n: int) -> None:
        import socketio

        rec = self.recorder

        async def connect(server: int, room: int, record: bool) -> Any:
            c = socketio.AsyncClient(reconnection=False)

            if record:
                @c.on("msg")
                async def on_msg(data: dict[str, Any]) -> None:
                    rec.hit(data["text"], time.monotonic_ns())
            else:
                @c.on("msg")
                async def ignore(data: dict[str, Any]) -> None:
                    return None

            await c.connect(f"http://127.0.0.1:{self.ports[server]}",
                            transports=["websocket"])
            await c.call("join", {"room": f"r{room}"}, timeout=30)
            return c

        self.senders = await gather_limited((connect(0, i, False) for i in range(n)), 50)
        self.receivers = await gather_limited((connect(1, i, True) for i in range(n)), 50)
        await asyncio.sleep(0.5)

    async def send(self, i: int, text: str) -> None:
        await self.senders[i].emit("msg", {"room": f"r{i}", "text": text})

    def pids(self) -> dict[str, int]:
        out = {p.name: p.pid for p in self.procs}
        out["valkey"] = self.valkey.pid
        return out

    async def stop(self) -> None:
        for c in [*self.senders, *self.receivers]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.disconnect(), 2)
        for p in self.procs:
            await asyncio.to_thread(p.stop)
        self.valkey.stop()


def baseline_env() -> dict[str, str]:
    """The environment of a baseline server process."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def make(name: str, layout: dict[str, Any], workdir: Any) -> System:
    if name == "ours":
        return Ours(layout)
    if name == "raw_ws":
        return RawWs(layout, workdir)
    if name == "socketio":
        return SocketIO(layout, workdir)
    raise ValueError(name)


SYSTEMS: Sequence[str] = ("ours", "raw_ws", "socketio")
