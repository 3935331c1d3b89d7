"""An asyncio client for visitors and agents, used by the tests and the benchmarks.

::

    visitor = await ChatClient.visitor("http://localhost:8000")
    chat = await visitor.start(topic="general", name="Ada")
    ack = await visitor.say(chat["id"], "hello")

    token = await login("http://localhost:8000", "alice", "secret-password")
    agent = await ChatClient.agent("http://localhost:8000", token)
    offer = await agent.wait_for(lambda f: f["type"] == "offer")
    await agent.request({"type": "accept", "chat": offer["chat"]["id"]})

The client keeps what a real client must keep: the visitor token, the last sequence seen per
chat, and the messages sent but not yet acknowledged.  With ``reconnect=True`` it reconnects
when the socket drops (trying each URL in turn), resumes every chat from the last sequence
it saw and sends the unacknowledged messages again with their original client ids, so the
server's dedup makes each appear once.

It never gives up while the server is away, and it keeps its token through an outage of
any length: only the server's explicit answer that the token is invalid (see
``check_token``, docs/protocol.md 2.6), asked for after handshakes were refused
``CHECK_AFTER_REFUSALS`` times in a row, drops it.  A visitor then reconnects without a
token (a new visitor); an agent stops (``unauthorized`` is set: log in again).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import random
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

log = logging.getLogger(__name__)
Frame = dict[str, Any]
_decoder = msgspec.msgpack.Decoder(dict[str, Any])
_encoder = msgspec.msgpack.Encoder()

RETRYABLE = ("overloaded", "internal", "rate_limited")
"""Error codes after which resending the same frame may pass."""
OVERLOAD_ATTEMPTS = 6
"""How many times ``say`` sends a message refused with ``overloaded`` (then it raises)."""
RESUME_ATTEMPTS = 10
"""How often a ``resume`` refused with a retryable code is sent (then the client
reconnects, which resumes again)."""


def overload_delay(error: dict[str, Any], attempt: int) -> float:
    """Seconds to wait before resending a frame refused with ``overloaded``: the server's
    ``retry_ms`` hint, doubled per further attempt (capped at 8 s), with +-50 % jitter so
    that the clients refused together do not come back together."""
    hint = error.get("retry_ms")
    base = (hint if isinstance(hint, int) and hint > 0 else 500) / 1000
    delay: float = min(base * 2**attempt, 8.0) * random.uniform(0.5, 1.5)
    return delay


class ClientError(Exception):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code = frame.get("code")


class Refused(Exception):
    """The handshake was refused (HTTP status in ``status``)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


def _ws_url(base: str, path: str) -> str:
    base = base.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[8:] + path
    if base.startswith("http://"):
        return "ws://" + base[7:] + path
    return base + path


def _http_base(ws_url: str) -> str:
    """The server's HTTP base of a socket URL (``ws://h:p/ws/visitor`` -> ``http://h:p``)."""
    base = ws_url.rsplit("/ws/", 1)[0]
    if base.startswith("wss://"):
        return "https://" + base[6:]
    if base.startswith("ws://"):
        return "http://" + base[5:]
    return base


CHECK_AFTER_REFUSALS = 3
"""Refused handshakes in a row after which the client asks whether its token is valid
(and again after as many more)."""


def _http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def http(
    method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """A small JSON HTTP call (run in a thread; the tests and admin scripts use it)."""
    return await asyncio.to_thread(_http, method, url, body, token)


async def login(base_url: str, agent_id: str, password: str) -> str:
    status, body = await http(
        "POST", base_url.rstrip("/") + "/api/login", {"id": agent_id, "password": password}
    )
    if status != 200:
        raise ClientError({"code": body.get("error"), "message": body.get("message")})
    return str(body["token"])


class ChatClient:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        role: str,
        token: str | None,
        reconnect: bool,
        origin: str | None,
        max_size: int,
        reconnect_max_delay: float = 1.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.urls = list(urls)
        self.open_timeout = open_timeout
        """Seconds a connection attempt may take, handshake and welcome each.  10 s by
        default so that tests fail fast; a browser's WebSocket has no such limit, and a
        client that must ride out a reconnect storm should wait longer than the server's
        ``HANDSHAKE_QUEUE_S`` (the storm bench passes 60)."""
        self.role = role
        self.token = token
        self.reconnect = reconnect
        self.origin = origin
        self.max_size = max_size
        self.ws: ClientConnection | None = None
        self.welcome: Frame = {}
        self.frames: list[Frame] = []
        """Every frame received other than msg/ack, in order."""
        self.messages: dict[str, list[Frame]] = {}
        """Per chat, the msg frames in sequence order, each once.  The server does not
        send a message back to the connection that wrote it: this client's own messages
        enter from their ``ack`` (see ``_own``)."""
        self.last_seq: dict[str, int] = {}
        self._own_seqs: set[tuple[str, int]] = set()
        self._sent: dict[str, tuple[str, str, str]] = {}
        """cid -> (chat, text, kind) of every msg/whisper sent and not yet answered."""
        """(chat, seq) of own messages taken from an ack and not yet received as msg."""
        self.duplicates = 0
        self.resyncs: list[Frame] = []
        self.unacked: dict[str, tuple[str, str, bool]] = {}
        """cid -> (chat, text, internal): sent, not yet acknowledged."""
        self.acks: dict[str, Frame] = {}
        self.connects = 0
        self.reconnect_max_delay = reconnect_max_delay
        """Cap of the reconnection back-off, in seconds (it starts at 50 ms, doubling)."""
        self.failed_attempts = 0
        """Reconnection attempts that failed since the last connection (any cause)."""
        self.failures: collections.Counter[str] = collections.Counter()
        """Every failed reconnection attempt since the client was made, by cause:
        ``http_503`` (the server is admitting others), ``http_<status>``, or the
        exception's name (``TimeoutError``, ``ConnectionRefusedError``, ...)."""
        self.refusals = 0
        """Handshakes refused (HTTP 401/403) in a row since the last connection."""
        self.token_resets = 0
        """Times the server said the token was invalid and it was dropped."""
        self.unauthorized = False
        """An agent whose token the server said is invalid: it stopped reconnecting."""
        self.closed_code: int | None = None
        self._rid = itertools.count(1)
        self._waiters: dict[str, asyncio.Future[Frame]] = {}
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._stopping = False
        self._url_index = 0
        self.connected = asyncio.Event()
        self._resends: dict[str, int] = {}
        """cid -> refusals so far, of the messages ``say_nowait`` sent: one refused with
        ``overloaded`` is sent again after the server's hint, in the background."""
        self._resend_tasks: set[asyncio.Task[None]] = set()
        self.open_chat: str | None = None
        """Visitors: the chat last started or welcomed with; a reconnect asks to resume it
        in the handshake (``resume``/``after``), saving a ``resume`` request."""

    # ---- construction --------------------------------------------------------------------
    @classmethod
    async def visitor(
        cls,
        base_urls: str | Sequence[str],
        token: str | None = None,
        *,
        reconnect: bool = False,
        origin: str | None = None,
        max_size: int = 2**24,
        reconnect_max_delay: float = 1.0,
        open_timeout: float = 10.0,
    ) -> ChatClient:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        client = cls(
            [_ws_url(u, "/ws/visitor") for u in urls],
            role="visitor",
            token=token,
            reconnect=reconnect,
            origin=origin,
            max_size=max_size,
            reconnect_max_delay=reconnect_max_delay,
            open_timeout=open_timeout,
        )
        await client.connect()
        return client

    @classmethod
    async def agent(
        cls,
        base_urls: str | Sequence[str],
        token: str,
        *,
        reconnect: bool = False,
        origin: str | None = None,
        max_size: int = 2**24,
        reconnect_max_delay: float = 1.0,
        open_timeout: float = 10.0,
    ) -> ChatClient:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        client = cls(
            [_ws_url(u, "/ws/agent") for u in urls],
            role="agent",
            token=token,
            reconnect=reconnect,
            origin=origin,
            max_size=max_size,
            reconnect_max_delay=reconnect_max_delay,
            open_timeout=open_timeout,
        )
        await client.connect()
        return client

    # ---- connection ----------------------------------------------------------------------
    async def connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = self._with_resume(self.urls[self._url_index % len(self.urls)])
        try:
            ws = await websockets.connect(
                url,
                additional_headers=headers,
                origin=self.origin,  # type: ignore[arg-type]
                subprotocols=["lc.v1"],  # type: ignore[list-item]
                max_size=self.max_size,
                compression=None,
                open_timeout=self.open_timeout,
                ping_interval=None,
                # direct, never through a proxy: looking one up (websockets >= 15 reads
                # the proxy environment on every connect) costs ~0.4 ms of CPU per
                # attempt, which a 10,000-client reconnect storm cannot afford
                proxy=None,
            )
        except InvalidStatus as exc:
            raise Refused(exc.response.status_code) from None
        try:
            if self._stopping:  # closed while connecting
                raise ConnectionError("client closed")
            first = _decoder.decode(await asyncio.wait_for(ws.recv(), self.open_timeout))  # type: ignore[arg-type]
            if first.get("type") != "welcome":
                raise ClientError(first)
        except BaseException:
            await asyncio.shield(ws.close())
            raise
        self.ws = ws
        self.welcome = first
        if self.role == "visitor" and first.get("chat"):
            self.open_chat = first["chat"]["id"]
        if "token" in first:
            self.token = first["token"]
        self.connects += 1
        self.failed_attempts = self.refusals = 0
        self._reader = asyncio.create_task(self._read(ws))
        self.connected.set()
        await self._notify()

    def _with_resume(self, url: str) -> str:
        """A visitor's socket URL asking to resume its open chat in the handshake."""
        chat = self.open_chat
        if self.role != "visitor" or self.token is None or chat is None:
            return url
        query = urlencode({"resume": chat, "after": self.last_seq.get(chat, 0)})
        return f"{url}{'&' if '?' in url else '?'}{query}"

    async def _after_reconnect(self) -> None:
        # resume every chat we know of (but the one the handshake resumed), then resend
        # what was never acknowledged
        chats = set(self.last_seq)
        if self.role == "visitor" and self.welcome.get("chat"):
            chats.add(self.welcome["chat"]["id"])
        if self.role == "agent":
            chats.update(c["id"] for c in self.welcome.get("chats", []))
        chats.discard(self.welcome.get("resumed", ""))
        for chat in sorted(chats):
            await self._resume(chat)
        for cid, (chat, text, internal) in list(self.unacked.items()):
            frame: Frame = {"type": "msg", "chat": chat, "cid": cid, "text": text}
            if internal:
                frame["internal"] = True
            await self.send(frame)

    async def _resume(self, chat: str) -> None:
        """Resume one chat; a refusal that may pass (the server busy, or rate-limiting
        this connection) is retried, one that will not (not found, forbidden) is final."""
        for attempt in range(RESUME_ATTEMPTS):
            try:
                await self.request(
                    {"type": "resume", "chat": chat, "after": self.last_seq.get(chat, 0)}
                )
                return
            except ClientError as exc:
                if exc.code not in RETRYABLE:
                    return
                # the server's hint, growing: reconnecting instead would cost it more
                await asyncio.sleep(overload_delay(exc.frame, attempt))
        raise ConnectionError(f"could not resume {chat}")

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                if isinstance(data, str):
                    continue
                frame = _decoder.decode(data)
                self._dispatch(frame)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            self.connected.clear()
            self.closed_code = ws.close_code
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
                    fut.exception()  # retrieved here; the waiting request re-raises it
            self._waiters.clear()
            await self._notify()
            if self.reconnect and not self._stopping:
                self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        """Reconnect until connected or closed: no number of failures makes it give up
        (a server may be away for minutes), and the token is kept unless the server
        itself says it is invalid (``_refused``)."""
        delay = 0.05
        while not self._stopping:
            self._url_index += 1
            try:
                await self.connect()
            except Refused as exc:
                self.failed_attempts += 1
                self.failures[f"http_{exc.status}"] += 1
                if exc.status == 503:  # the server is admitting others: come back later
                    delay = max(delay, 2.0)
                elif exc.status in (401, 403) and not await self._refused():
                    return
                await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: no herd
                delay = min(delay * 2, self.reconnect_max_delay)
                continue
            except (
                OSError,
                InvalidHandshake,
                ConnectionClosed,
                TimeoutError,
                ClientError,
                ConnectionError,
            ) as exc:
                # OSError: the server is down or unreachable (no reason to doubt the
                # token); InvalidHandshake: an overloaded server dropped it unanswered
                self.failed_attempts += 1
                self.failures[type(exc).__name__] += 1
                await asyncio.sleep(delay * (0.5 + random.random()))  # jitter: no herd
                delay = min(delay * 2, self.reconnect_max_delay)
                continue
            try:
                await self._after_reconnect()
                return
            except (OSError, ConnectionClosed, TimeoutError, ClientError, ConnectionError):
                # this socket is no use: close it (its reader then schedules a reconnect
                # unless the socket already dropped and did so)
                ws = self.ws
                if ws is not None:
                    await ws.close()
                return

    async def _refused(self) -> bool:
        """One more refused handshake; every ``CHECK_AFTER_REFUSALS`` in a row, ask the
        server about the token.  Returns False when reconnecting is pointless (an agent
        whose token is invalid)."""
        self.refusals += 1
        if self.token is None or self.refusals % CHECK_AFTER_REFUSALS:
            return True
        if await self.check_token() != "invalid":
            return True  # valid, or no clear answer: the refusal has another cause
        if self.role == "agent":
            log.warning("agent token refused as invalid by the server: log in again")
            self.unauthorized = True
            return False
        log.warning("visitor token refused as invalid by the server: connecting as a new visitor")
        self.token = None
        self.token_resets += 1
        self.unacked.clear()  # a new visitor cannot write in the old visitor's chats
        return True

    async def check_token(self) -> str:
        """Ask the server whether the token is valid: ``"valid"``, ``"invalid"`` (the
        explicit answer: visitors ``401 invalid_token`` from ``POST /api/visitor/check``,
        agents ``401 unauthorized`` from ``GET /api/me``) or ``"unknown"`` (no answer,
        or another one: keep the token)."""
        if self.token is None:
            return "unknown"
        base = _http_base(self.urls[self._url_index % len(self.urls)])
        request: tuple[str, str, Any, str | None, float]
        if self.role == "visitor":
            request = ("POST", base + "/api/visitor/check", {"token": self.token}, None, 5.0)
            invalid_code = "invalid_token"
        else:
            request = ("GET", base + "/api/me", None, self.token, 5.0)
            invalid_code = "unauthorized"
        try:
            status, body = await asyncio.to_thread(_http, *request)
        except (OSError, ValueError):  # down, unreachable, or not our server's answer
            return "unknown"
        if status == 200:
            return "valid"
        if status == 401 and isinstance(body, dict) and body.get("error") == invalid_code:
            return "invalid"
        return "unknown"

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "msg":
            chat, seq = frame["chat"], frame["seq"]
            if seq <= self.last_seq.get(chat, 0):
                self.duplicates += 1
                return
            self.last_seq[chat] = seq
            if frame.get("from", {}).get("role") == self.role:
                self.unacked.pop(frame.get("cid", ""), None)
                self._resends.pop(frame.get("cid", ""), None)
            if (chat, seq) in self._own_seqs:
                self._own_seqs.discard((chat, seq))  # a replay of our own, already held
                return
            held = self.messages.setdefault(chat, [])
            at = len(held)
            while at and held[at - 1]["seq"] > seq:  # after an own message taken from its ack
                at -= 1
            held.insert(at, frame)
            return
        if kind == "ack":
            self.acks[frame["cid"]] = frame
            self._own(frame)
            self.unacked.pop(frame["cid"], None)
            self._resends.pop(frame["cid"], None)
        if kind == "error" and "cid" in frame:
            self._sent.pop(frame["cid"], None)
            self._resend_later(frame)
        if kind == "resync":
            self.resyncs.append(frame)
        rid = frame.get("rid")
        if rid is not None and rid in self._waiters:
            fut = self._waiters.pop(rid)
            if not fut.done():
                fut.set_result(frame)
        if kind != "ack":
            self.frames.append(frame)

    def _own(self, ack: Frame) -> None:
        """Our message is stored with ``ack['seq']``: put it among the chat's messages in
        seq order (once; ``last_seq`` is left alone, an earlier message may still be on
        its way).  Its copy, if a replay brings it later, is then skipped."""
        sent = self._sent.pop(ack["cid"], None)
        if sent is None:
            return
        chat, text, kind = sent
        seq = ack["seq"]
        if chat != ack.get("chat"):
            return
        held = self.messages.setdefault(chat, [])
        if seq <= self.last_seq.get(chat, 0) and any(m["seq"] == seq for m in held):
            return  # already received (a resend answered as a duplicate)
        me = self.welcome.get("agent") or {}
        frame: Frame = {
            "type": "msg",
            "chat": chat,
            "seq": seq,
            "cid": ack["cid"],
            "text": text,
            "kind": kind,
            "internal": kind != "message",
            "from": {
                "role": self.role,
                "id": me.get("id") if self.role == "agent" else self.welcome.get("visitor"),
                "name": me.get("name", ""),
            },
        }
        at = len(held)
        while at and held[at - 1]["seq"] > seq:
            at -= 1
        held.insert(at, frame)
        if seq > self.last_seq.get(chat, 0):
            self._own_seqs.add((chat, seq))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- sending -------------------------------------------------------------------------
    async def send(self, frame: Frame) -> None:
        """Send one frame; raises ConnectionError when the socket is gone."""
        if self.ws is None:
            raise ConnectionError("not connected")
        kind = frame.get("type")
        if kind in ("msg", "whisper") and isinstance(frame.get("cid"), str):
            # kept until the answer: an ack puts the message among ``messages`` (the
            # server does not send it back to this connection)
            self._sent[frame["cid"]] = (
                frame.get("chat", ""),
                frame.get("text", ""),
                "whisper" if kind == "whisper" else "note" if frame.get("internal") else "message",
            )
        try:
            await self.ws.send(_encoder.encode(frame))
        except ConnectionClosed as exc:
            raise ConnectionError(str(exc)) from None

    async def send_raw(self, data: bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def request(self, frame: Frame, timeout: float = 10.0) -> Frame:
        """Send a frame with a fresh ``rid`` and wait for the reply; raises ClientError on
        an ``error`` reply."""
        rid = f"r{next(self._rid)}"
        frame = {**frame, "rid": rid}
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        try:
            await self.send(frame)
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.pop(rid, None)
        if reply.get("type") == "error":
            raise ClientError(reply)
        return reply

    async def start(self, **fields: Any) -> Frame:
        reply = await self.request({"type": "start", **fields})
        chat: Frame = reply["chat"]
        self.last_seq.setdefault(chat["id"], 0)
        self.open_chat = chat["id"]
        return chat

    async def say(
        self,
        chat: str,
        text: str,
        *,
        cid: str | None = None,
        internal: bool = False,
        timeout: float = 10.0,
    ) -> Frame:
        """Send a message and wait for its ack (returned); raises ClientError when the
        server refuses it (the ``error`` frame names the ``cid``)."""
        cid = cid or f"m{secrets.token_hex(8)}"
        self.unacked[cid] = (chat, text, internal)
        frame: Frame = {"type": "msg", "chat": chat, "cid": cid, "text": text}
        if internal:
            frame["internal"] = True
        for attempt in range(OVERLOAD_ATTEMPTS):
            since = len(self.frames)
            await self.send(frame)
            reply = await self.wait_for(
                lambda f: f.get("type") == "error" and f.get("cid") == cid,
                timeout,
                since=since,
                include_acks=cid,
            )
            if reply.get("type") != "error":
                return reply
            if reply.get("code") == "overloaded" and attempt + 1 < OVERLOAD_ATTEMPTS:
                # the same frame again after the hint: the server dedups by cid
                await asyncio.sleep(overload_delay(reply, attempt))
                continue
            if reply.get("code") not in RETRYABLE:
                self.unacked.pop(cid, None)  # resending would be refused again
            raise ClientError(reply)
        raise AssertionError("unreachable")

    async def say_nowait(self, chat: str, text: str, cid: str) -> None:
        """Send a message without waiting for its ack.  Refused with ``overloaded``, it
        is sent again in the background after the server's hint (``OVERLOAD_ATTEMPTS``
        times at most; then it stays in ``unacked``, resent by the next reconnect)."""
        self.unacked[cid] = (chat, text, False)
        self._resends[cid] = 0
        await self.send({"type": "msg", "chat": chat, "cid": cid, "text": text})

    def _resend_later(self, error: Frame) -> None:
        cid = error["cid"]
        attempt = self._resends.pop(cid, None)
        if attempt is None or cid not in self.unacked:
            return
        if error.get("code") != "overloaded" or attempt + 1 >= OVERLOAD_ATTEMPTS:
            return
        delay = overload_delay(error, attempt)
        chat, text, _ = self.unacked[cid]

        async def resend() -> None:
            await asyncio.sleep(delay)
            if cid in self.unacked and not self._stopping:
                self._resends[cid] = attempt + 1
                with contextlib.suppress(ConnectionError):
                    await self.send({"type": "msg", "chat": chat, "cid": cid, "text": text})

        task = asyncio.get_running_loop().create_task(resend())
        self._resend_tasks.add(task)
        task.add_done_callback(self._resend_tasks.discard)

    # ---- waiting -------------------------------------------------------------------------
    async def wait_for(
        self,
        predicate: Callable[[Frame], bool],
        timeout: float = 10.0,
        *,
        since: int = 0,
        include_acks: str | None = None,
    ) -> Frame:
        """The first frame (from index ``since``) that matches; waits for it if needed."""

        async def scan() -> Frame:
            async with self._changed:
                while True:
                    if include_acks is not None and include_acks in self.acks:
                        return self.acks[include_acks]
                    for frame in self.frames[since:]:
                        if predicate(frame):
                            return frame
                    await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_messages(self, chat: str, count: int, timeout: float = 10.0) -> list[Frame]:
        async def scan() -> list[Frame]:
            async with self._changed:
                while len(self.messages.get(chat, [])) < count:
                    await self._changed.wait()
                return self.messages[chat]

        return await asyncio.wait_for(scan(), timeout)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        async def scan() -> int | None:
            async with self._changed:
                while self.connected.is_set():
                    await self._changed.wait()
                return self.closed_code

        return await asyncio.wait_for(scan(), timeout)

    # ---- closing -------------------------------------------------------------------------
    async def close(self) -> None:
        self._stopping = True
        for task in list(self._resend_tasks):
            task.cancel()
        if self._reconnecting is not None and not self._reconnecting.done():
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reconnecting
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def drop(self) -> None:
        """Lose the connection abruptly (no close handshake), as a network cut would."""
        if self.ws is not None:
            transport = self.ws.transport
            transport.abort()
