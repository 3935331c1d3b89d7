"""Driving the product with its own client (``chatserver.client``).

``BenchClient`` is ``ChatClient`` with hooks: a callback for every new message frame and
every other frame at the moment it is read, the time its resume finished after a
reconnect, and a cheaper notify (the base class wakes its waiters on every frame; with
nobody waiting that is pure generator overhead).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosed

from bench.procs import ADMIN_PASSWORD, AGENT_PASSWORD, Deployment
from chatserver.client import ChatClient, ClientError, Frame, Refused, http, login

MsgHook = Callable[["BenchClient", Frame, int], None]
FrameHook = Callable[["BenchClient", Frame, int], None]


RETRIES: dict[str, int] = {}
"""How often a request was refused with ``internal`` (the hub's Redis pool was exhausted
by the burst) and retried, as a real client would."""


class BenchClient(ChatClient):
    on_msg: MsgHook | None = None
    on_frame: FrameHook | None = None
    resumed_at: int = 0
    """monotonic_ns when the last reconnect's resume (and resend) finished."""
    welcomed_at: int = 0
    """monotonic_ns of the last welcome."""
    on_resumed: Callable[[BenchClient], None] | None = None
    lean: bool = False
    """Keep no history (acks, message lists): a long load run would otherwise grow the
    generator's heap and its garbage-collector pauses would show up as latency."""

    def _dispatch(self, frame: Frame) -> None:
        now = time.monotonic_ns()
        kind = frame.get("type")
        if kind == "msg":
            chat = frame.get("chat")
            before = self.last_seq.get(chat, 0)
            super()._dispatch(frame)
            if self.on_msg is not None and frame.get("seq", 0) > before:
                self.on_msg(self, frame, now)
            if self.lean:
                kept = self.messages.get(chat)
                if kept:
                    kept.clear()
            return
        super()._dispatch(frame)
        if self.lean:
            if kind == "ack":
                self.acks.pop(frame.get("cid", ""), None)
            elif len(self.frames) > 100 and not self._changed._waiters:  # type: ignore[attr-defined]
                del self.frames[:]
        if self.on_frame is not None:
            self.on_frame(self, frame, now)

    async def _notify(self) -> None:
        if self._changed._waiters:  # type: ignore[attr-defined]
            await super()._notify()

    async def connect(self) -> None:
        await super().connect()
        self.welcomed_at = time.monotonic_ns()

    async def _after_reconnect(self) -> None:
        await super()._after_reconnect()
        self.resumed_at = time.monotonic_ns()
        if self.on_resumed is not None:
            self.on_resumed(self)


async def stream_entries(redis: Any, key: str) -> list[tuple[Any, Any]]:
    """Every entry (id, fields) of the stream at ``key``, read in pages of 10,000."""
    out: list[tuple[Any, Any]] = []
    last = "-"
    while True:
        batch = await redis.xrange(key, min=last, max="+", count=10_000)
        if last != "-" and batch:
            batch = batch[1:]
        if not batch:
            break
        out.extend(batch)
        ident = batch[-1][0]
        last = ident.decode() if isinstance(ident, bytes) else str(ident)
    return out


async def gather_limited(coros: Iterable[Any], limit: int) -> list[Any]:
    """Run coroutines with at most ``limit`` in flight; results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))


class Product:
    """Admin helpers against a running deployment: agents, topics, tokens."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.admin_token = ""
        self._creds: Any = None

    async def start(self) -> None:
        self.admin_token = await login(self.dep.urls[0], "admin", ADMIN_PASSWORD)
        from chatserver.auth import Credentials
        from chatserver.settings import Settings

        self._creds = Credentials(Settings(secret_key=self.dep.secret,
                                           data_dir=self.dep.workdir))

    def agent_token(self, agent_id: str, version: int = 1) -> str:
        """A token signed with the deployment's shared key (what /api/login returns)."""
        return str(self._creds.agent_token(agent_id, version))

    async def add_agents(self, specs: Sequence[tuple[str, int, Mapping[str, int]]],
                         concurrency: int = 16) -> dict[str, str]:
        """Create agents through the REST API; returns agent id -> token."""

        async def one(agent_id: str, capacity: int, skills: Mapping[str, int]) -> None:
            status, body = await http(
                "POST", self.dep.urls[0] + "/api/agents",
                {"id": agent_id, "password": AGENT_PASSWORD, "capacity": capacity,
                 "skills": dict(skills), "role": "agent", "name": agent_id},
                self.admin_token,
            )
            if status != 201:
                raise RuntimeError(f"creating {agent_id}: {status} {body}")

        await gather_limited((one(*s) for s in specs), concurrency)
        return {s[0]: self.agent_token(s[0]) for s in specs}

    async def set_topic(self, name: str, required: Mapping[str, int],
                        priority: int = 5) -> None:
        status, body = await http("PUT", f"{self.dep.urls[0]}/api/topics/{name}",
                                  {"required": dict(required), "priority": priority},
                                  self.admin_token)
        if status != 200:
            raise RuntimeError(f"topic {name}: {status} {body}")

    def redis(self) -> Any:
        """A client of the deployment's Redis for the bench's own reads (the event log,
        chat states, the audit).  On a cluster, the product's own cluster client (through
        ``store.redis_conn.connect`` with the ``redis+cluster://`` URL): every key read
        here is in the ``{rt}`` slot."""
        url = self.dep.valkey.url
        if self.dep.backend == "cluster":
            from chatserver.store.redis_conn import connect

            return connect(url)
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(url)

    async def events(self) -> list[dict[str, str]]:
        """The whole routing event log (as tests/audit.py replays it)."""
        r = self.redis()
        out: list[dict[str, str]] = []
        try:
            for ident, fields in await stream_entries(r, f"{self.dep.prefix}:{{rt}}:events"):
                out.append({k.decode(): v.decode() for k, v in fields.items()}
                           | {"_id": ident.decode()})
        finally:
            await r.aclose()
        return out


async def connect_agents(urls: Sequence[str], tokens: Mapping[str, str], *,
                         concurrency: int = 50, reconnect: bool = False,
                         placement: Callable[[int], int] | None = None,
                         ) -> dict[str, BenchClient]:
    ids = list(tokens)

    async def one(i: int, agent_id: str) -> tuple[str, BenchClient]:
        server = placement(i) if placement else 0
        ordered = list(urls[server:]) + list(urls[:server])
        c = await BenchClient.agent(ordered if reconnect else ordered[0], tokens[agent_id],
                                    reconnect=reconnect)
        return agent_id, c  # type: ignore[return-value]

    pairs = await gather_limited((one(i, a) for i, a in enumerate(ids)), concurrency)
    return dict(pairs)


WIDGET_BACKOFF_CAP_S = 8.0
"""Reconnecting visitors back off as the widget does (``clients/link.ts``: doubling up to
8 s, jittered), not with the Python client's 1 s cap meant for tests: 10,000 clients
retrying every second keep a storm's server (and the generator) busy with attempts that
time out, and none gets through."""
WIDGET_OPEN_TIMEOUT_S = 60.0
"""A browser's WebSocket waits for the server's answer (no handshake time-out of its own):
a visitor whose handshake is slow waits for it instead of giving up after 10 s and paying
for a new one (which the server, having answered the first, pays for again)."""


async def connect_visitors(urls: Sequence[str], n: int, *, server: int = 0,
                           concurrency: int = 100, reconnect: bool = False,
                           ) -> list[BenchClient]:
    ordered = list(urls[server:]) + list(urls[:server])

    async def one() -> BenchClient:
        for attempt in range(5):
            try:
                return await BenchClient.visitor(  # type: ignore[return-value]
                    ordered if reconnect else ordered[0], reconnect=reconnect,
                    reconnect_max_delay=WIDGET_BACKOFF_CAP_S, open_timeout=WIDGET_OPEN_TIMEOUT_S)
            except (OSError, TimeoutError, Refused, ConnectionClosed) as exc:
                key = f"connect_failed_{type(exc).__name__}"
                RETRIES[key] = RETRIES.get(key, 0) + 1
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError

    return await gather_limited((one() for _ in range(n)), concurrency)


async def close_all(clients: Iterable[ChatClient]) -> None:
    """Drop every connection at once (the deployment is stopped right after; a close
    handshake per socket would only slow the bench down)."""
    for c in clients:
        c._stopping = True
        with contextlib.suppress(Exception):
            if c.ws is not None:
                c.ws.transport.abort()
    await asyncio.sleep(0.2)
    for c in clients:
        if c._reader is not None:
            c._reader.cancel()
    await asyncio.sleep(0)


async def request_retry(c: ChatClient, frame: Frame, timeout: float = 60.0) -> Frame:
    """A request retried after a pause while the hub answers ``internal`` (storage busy),
    as a real client would."""
    for attempt in range(20):
        try:
            return await c.request(frame, timeout)
        except ClientError as exc:
            if exc.code != "internal" or attempt == 19:
                raise
            key = f"{frame.get('type')}_internal_error"
            RETRIES[key] = RETRIES.get(key, 0) + 1
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError


async def start_chat(v: ChatClient, topic: str, name: str, timeout: float = 60.0) -> str:
    """``ChatClient.start`` with a longer timeout (a burst queues many requests), retried
    after a short pause when the hub answers ``internal`` (storage busy)."""
    for attempt in range(20):
        try:
            reply = await v.request({"type": "start", "topic": topic, "name": name}, timeout)
            break
        except ClientError as exc:
            if exc.code == "chat_open" and attempt > 0 and exc.frame.get("chat"):
                # the refused attempt got as far as creating the chat
                RETRIES["start_created_despite_error"] = RETRIES.get(
                    "start_created_despite_error", 0) + 1
                chat_id = str(exc.frame["chat"])
                v.last_seq.setdefault(chat_id, 0)
                v.open_chat = chat_id
                return chat_id
            if exc.code != "internal" or attempt == 19:
                raise
            RETRIES["start_internal_error"] = RETRIES.get("start_internal_error", 0) + 1
            await asyncio.sleep(0.05 * (attempt + 1))
    chat_id = str(reply["chat"]["id"])
    v.last_seq.setdefault(chat_id, 0)
    v.open_chat = chat_id  # as ChatClient.start: a reconnection resumes it in the handshake
    return chat_id


async def await_active(product: Product, chats: Sequence[str], agents: Mapping[str, ChatClient],
                       told: Callable[[str], bool], timeout: float = 300.0) -> dict[str, str]:
    """Wait until every chat is active (auto-accept) and make sure its agent's client
    follows it: an agent whose ``assigned`` notification never arrived (the hub dropped
    it) resumes the chat, as a console would after a reload.  Returns chat -> agent id."""
    r = product.redis()
    rt = f"{product.dep.prefix}:{{rt}}"
    owner: dict[str, str] = {}
    repaired = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            pending = [c for c in chats if c not in owner]
            if not pending:
                break
            async with r.pipeline(transaction=False) as pipe:
                for c in pending:
                    pipe.hmget(f"{rt}:chat:{c}", "state", "agent")
                states = await pipe.execute()
            for c, (state, agent) in zip(pending, states, strict=True):
                if state == b"active" and agent:
                    owner[c] = agent.decode()
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        for c, a in owner.items():
            if not told(c):
                repaired += 1
                await agents[a].request({"type": "resume", "chat": c, "after": 0}, 30)
    finally:
        await r.aclose()
    RETRIES["agent_resumed_missing_assigned"] = RETRIES.get(
        "agent_resumed_missing_assigned", 0) + repaired
    if len(owner) < len(chats):
        raise TimeoutError(f"{len(chats) - len(owner)} chats never became active")
    return owner
