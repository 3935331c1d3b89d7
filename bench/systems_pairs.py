"""The systems of the ``relay2`` scenario: ONE server process (and its Valkey) each, chat
pairs in which both sides send, the shape of the outside relay harness (issue 10).

- ``ours``: one `chatserver serve` hub and its Valkey; each pair is a visitor and the agent
  its chat was routed to (auto-accept, agent capacity 4), both on that hub.
- ``socketio``: one ``bench.baselines.socketio_redis`` process and its Valkey; each pair is
  two python-socketio clients in one room.
- ``socketio_node``: one ``bench/baselines/socketio_node/server.js`` process (socket.io with
  ``@socket.io/redis-adapter``) and its Valkey, driven by the same python-socketio clients;
  only when ``node`` is on the PATH (installed with ``npm ci`` from the committed lock file).
- ``raw_ws``: one ``bench.baselines.raw_ws`` process, no Redis.

Pair ``i`` of ``P`` is addressed as side ``i`` (its first side: the visitor) and side
``P + i`` (its second side: the agent); ``send(k, text)`` sends ``text`` from side ``k``
and the other side calls ``recorder.hit`` when it arrives.  Every system here echoes a
message to its sender too (the product, both baselines): a side ignores its own echoes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.loadgen import Recorder
from bench.ours import (
    BenchClient,
    connect_agents,
    connect_visitors,
    gather_limited,
)
from bench.procs import ROOT, Deployment, Proc, ValkeyProc, free_port, wait_port
from bench.systems import OursParts, RawWsProc, baseline_env

NODE_DIR = ROOT / "bench" / "baselines" / "socketio_node"


class PairSystem:
    name = ""
    label = ""

    def __init__(self, layout: dict[str, Any]) -> None:
        self.layout = layout
        self.recorder = Recorder()
        self.pairs = 0
        self.refused = 0
        """Messages the server answered with an error frame (not silently lost)."""

    async def start(self) -> None:
        raise NotImplementedError

    async def make_pairs(self, n: int) -> None:
        raise NotImplementedError

    async def send(self, k: int, text: str) -> None:
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        raise NotImplementedError

    def server_pids(self) -> dict[str, str]:
        """Role of each process in ``pids()``: ``server`` or ``redis``."""
        return {k: ("redis" if k == "valkey" else "server") for k in self.pids()}

    async def stop(self) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label,
                "layout": {k: str(v) for k, v in self.layout.items()}}


class OursPairs(OursParts, PairSystem):
    name = "ours"
    label = "chatserver (1 hub + Valkey)"

    def __init__(self, layout: dict[str, Any], capacity: int = 4) -> None:
        super().__init__(layout)
        self.capacity = capacity
        self.dep = Deployment(1, hub_cpus=[layout.get("hub0")], redis_cpus=layout.get("redis"),
                              auto_accept="true", profile_dir=layout.get("profile_dir"))
        self.visitors: list[BenchClient] = []
        self.agents: dict[str, BenchClient] = {}
        self.chats: list[str] = []
        self.agent_of: list[BenchClient] = []
        self._cid = itertools.count()

    async def make_pairs(self, n: int) -> None:
        self.pairs = n
        n_agents = (n + self.capacity - 1) // self.capacity
        tokens = await self.product.add_agents(
            [(f"pa{i:04d}", self.capacity, {}) for i in range(n_agents)])
        self.agents = await connect_agents(self.dep.urls, tokens)
        assigned: set[str] = set()
        rec = self.recorder

        def on_frame(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            kind = frame.get("type")
            if kind == "assigned":
                assigned.add(frame["chat"]["id"])
            elif kind == "error" and frame.get("cid"):
                self.refused += 1

        def on_msg(client: BenchClient, frame: dict[str, Any], now: int) -> None:
            if frame.get("from", {}).get("role") != client.role:
                rec.hit(frame["text"], now)

        self.visitors = await connect_visitors(self.dep.urls, n)
        for c in [*self.agents.values(), *self.visitors]:
            c.on_frame = on_frame
            c.on_msg = on_msg
        owner = await self.open_chats("pair", assigned)
        self.agent_of = [self.agents[owner[c]] for c in self.chats]

    async def send(self, k: int, text: str) -> None:
        n = self.pairs
        client = self.visitors[k] if k < n else self.agent_of[k - n]
        await client.say_nowait(self.chats[k % n], text, f"b{next(self._cid)}")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.deployment_facts()}


class OursBacklogPairs(OursPairs):
    """The product while its records writer drains a backlog: ``BACKLOG`` finished chats
    (20 messages each, with their outbox entries) are put into Redis once the pairs are
    made, just before the ladder starts (issue 10: no stall below saturation while the
    writer drains 10,000 finished chats)."""

    name = "ours_backlog"
    label = "chatserver (1 hub + Valkey), records writer draining 10,000 finished chats"
    BACKLOG = 10_000

    async def make_pairs(self, n: int) -> None:
        await super().make_pairs(n)
        from bench.s_records import fill_finished_chats
        from chatserver.store.keys import Keys
        from chatserver.store.redis_conn import connect

        redis = connect(self.dep.valkey.url)
        try:
            await fill_finished_chats(redis, Keys(self.dep.prefix), self.BACKLOG, 20)
            self.outbox_at_start = int(await redis.xlen(Keys(self.dep.prefix).outbox))
        finally:
            await redis.aclose()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backlog": self.BACKLOG,
                "outbox_at_start": getattr(self, "outbox_at_start", None)}


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(dict[str, Any])


class RawWsPairs(RawWsProc, PairSystem):
    name = "raw_ws"
    label = "raw websockets relay (1 process, no Redis)"

    def __init__(self, layout: dict[str, Any], workdir: Path) -> None:
        super().__init__(layout)
        self.port = free_port()
        self.proc = Proc("raw_ws", [sys.executable, "-m", "bench.baselines.raw_ws",
                                    str(self.port)], baseline_env(), workdir, layout.get("hub0"))
        self.sides: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def make_pairs(self, n: int) -> None:
        import websockets

        self.pairs = n

        async def connect(room: int) -> Any:
            return await websockets.connect(f"ws://127.0.0.1:{self.port}/room/{room}",
                                            compression=None, ping_interval=None,
                                            max_size=65536, proxy=None)

        self.sides = await gather_limited((connect(k % n) for k in range(2 * n)), 100)
        rec = self.recorder

        async def read(ws: Any, side: int) -> None:
            with contextlib.suppress(Exception):
                async for data in ws:
                    frame = _dec.decode(data)
                    if frame.get("from") != side:
                        rec.hit(frame["text"], time.monotonic_ns())

        self.tasks = [asyncio.create_task(read(ws, k >= n)) for k, ws in enumerate(self.sides)]
        await asyncio.sleep(0.5)

    async def send(self, k: int, text: str) -> None:
        await self.sides[k].send(_enc.encode({"type": "msg", "text": text,
                                              "from": k >= self.pairs}))

    async def stop(self) -> None:
        for ws in self.sides:
            with contextlib.suppress(Exception):
                ws.transport.abort()
        for t in self.tasks:
            t.cancel()
        await asyncio.to_thread(self.proc.stop)


class SioWire:
    """A Socket.IO client speaking the wire protocol directly over one WebSocket (Engine.IO
    4, Socket.IO 5, JSON text packets): what python-socketio's and socket.io-client's
    clients send, without their per-message machinery, so that one generator core can
    drive a fast server (python-socketio's ``AsyncClient`` saturated the generator near
    4,000 msg/s).  It joins one room, answers the server's pings, emits ``msg`` and hands
    every ``msg`` event that is not its own echo to the recorder."""

    def __init__(self, ws: Any, side: bool, rec: Recorder) -> None:
        self.ws = ws
        self.side = side
        self.rec = rec
        self.joined = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, room: str, side: bool, rec: Recorder) -> SioWire:
        import websockets

        ws = await websockets.connect(url, compression=None, ping_interval=None,
                                      max_size=65536, open_timeout=30, proxy=None)
        first = await asyncio.wait_for(ws.recv(), 30)
        if not str(first).startswith("0"):
            raise ConnectionError(f"unexpected Engine.IO open packet {first!r}")
        await ws.send("40")
        # socket.io (Node) drops events sent before the namespace connection completes
        ack = await asyncio.wait_for(ws.recv(), 30)
        if not str(ack).startswith("40"):
            raise ConnectionError(f"unexpected Socket.IO connect reply {ack!r}")
        c = cls(ws, side, rec)
        await ws.send("421" + _json.encode(["join", {"room": room}]).decode())
        await asyncio.wait_for(c.joined, 30)
        return c

    async def _read(self) -> None:
        side, rec = self.side, self.rec
        with contextlib.suppress(Exception):
            async for data in self.ws:
                if data == "2":
                    await self.ws.send("3")
                elif data.startswith("42"):
                    event, payload = _json.decode(data[2:])
                    if event == "msg" and payload.get("from") != side:
                        rec.hit(payload["text"], time.monotonic_ns())
                elif data.startswith("431") and not self.joined.done():
                    self.joined.set_result(True)

    async def emit_msg(self, room: str, text: str) -> None:
        await self.ws.send("42" + _json.encode(
            ["msg", {"room": room, "text": text, "from": self.side}]).decode())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.transport.abort()
        self.task.cancel()


_json = msgspec.json


class SocketIOPairs(PairSystem):
    """One Socket.IO server process (Python or Node) and its Valkey."""

    name = "socketio"
    label = "python-socketio + AsyncRedisManager (1 process + Valkey)"

    def __init__(self, layout: dict[str, Any], workdir: Path) -> None:
        super().__init__(layout)
        self.valkey = ValkeyProc(workdir, layout.get("redis"))
        self.port = free_port()
        self.workdir = workdir
        self.proc: Proc | None = None
        self.sides: list[Any] = []

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "bench.baselines.socketio_redis", str(self.port),
                self.valkey.url]

    async def start(self) -> None:
        self.valkey.start()
        self.proc = Proc(self.name, self.argv(), baseline_env(), self.workdir,
                         self.layout.get("hub0"))
        self.proc.start()
        await asyncio.to_thread(wait_port, self.port, 30, self.proc.proc, self.proc.log_path)

    async def make_pairs(self, n: int) -> None:
        self.pairs = n
        rec = self.recorder
        url = f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"
        self.sides = await gather_limited(
            (SioWire.open(url, f"r{k % n}", k >= n, rec) for k in range(2 * n)), 50)
        await asyncio.sleep(0.5)

    async def send(self, k: int, text: str) -> None:
        await self.sides[k].emit_msg(f"r{k % self.pairs}", text)

    def pids(self) -> dict[str, int]:
        out = {self.name: self.proc.pid} if self.proc is not None else {}
        out["valkey"] = self.valkey.pid
        return out

    async def stop(self) -> None:
        for c in self.sides:
            c.close()
        if self.proc is not None:
            await asyncio.to_thread(self.proc.stop)
        self.valkey.stop()


class SocketIONodePairs(SocketIOPairs):
    name = "socketio_node"
    label = "Node socket.io + @socket.io/redis-adapter (1 process + Valkey)"

    def argv(self) -> list[str]:
        return [node_binary() or "node", str(NODE_DIR / "server.js"), str(self.port),
                self.valkey.url]

    async def start(self) -> None:
        await asyncio.to_thread(npm_ci)
        await super().start()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "node": node_version(),
                "packages": node_packages()}


def node_binary() -> str | None:
    return shutil.which("node")


def node_version() -> str:
    node = node_binary()
    if node is None:
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([node, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    return ""


def node_packages() -> dict[str, str]:
    import json

    out = {}
    for name in ("socket.io", "@socket.io/redis-adapter", "redis"):
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())
            out[name] = meta["version"]
    return out


def npm_ci() -> None:
    """Install the Node baseline from its lock file, once (bounded in time)."""
    stamp = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                   check=True, timeout=300, capture_output=True)


def available() -> list[str]:
    names = ["ours", "ours_backlog", "socketio"]
    if node_binary() is not None:
        names.append("socketio_node")
    names.append("raw_ws")
    return names


def make(name: str, layout: dict[str, Any], workdir: Path) -> PairSystem:
    if name == "ours":
        return OursPairs(layout)
    if name == "ours_backlog":
        return OursBacklogPairs(layout)
    if name == "socketio":
        return SocketIOPairs(layout, workdir)
    if name == "socketio_node":
        return SocketIONodePairs(layout, workdir)
    if name == "raw_ws":
        return RawWsPairs(layout, workdir)
    raise ValueError(name)
