"""One test per attack and fault of ``shared/SECURITY.md`` that applies to the hub.

Every test is named after the line it checks (``test_attack_NN_...``, ``test_fault_NN_...``)
so that the list can be checked against the suite.  Items 9, 17 and the browser half of 10
concern pages that do not exist yet; the CSRF check of the REST API (10) is tested here.

Everything is real: ``chatserver serve`` processes, a real Redis, real WebSocket clients,
and, for what well-behaved clients never do, a WebSocket spoken by hand over TCP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable
from http.client import HTTPConnection
from typing import Any

import msgspec
import pytest
import websockets
from itsdangerous import URLSafeTimedSerializer
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chatserver.client import ChatClient, ClientError, Refused, http, login
from tests.harness import ADMIN_PASSWORD, AGENT_PASSWORD, Cluster, scaled

Frame = dict[str, Any]
_enc = msgspec.msgpack.Encoder()
EVIL = "http://evil.example"


# ---- helpers ------------------------------------------------------------------------------
class Clients:
    """Every client a test opens, closed at the end (filterwarnings=error)."""

    def __init__(self) -> None:
        self.items: list[ChatClient] = []

    def add(self, client: ChatClient) -> ChatClient:
        self.items.append(client)
        return client

    async def close(self) -> None:
        for client in reversed(self.items):
            with contextlib.suppress(Exception):
                await client.close()
        self.items.clear()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    opened = Clients()
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def make_cluster(
    redis_url: str, clients: Clients, n: int = 1, **env: str
) -> AsyncIterator[Cluster]:
    """A cluster with its own settings; the clients are closed before it stops."""
    c = Cluster(redis_url, n=n, **env)
    await c.start()
    try:
        yield c
    finally:
        await clients.close()
        c.stop()


async def expect_error(client: ChatClient, frame: Frame, code: str = "forbidden") -> Frame:
    with pytest.raises(ClientError) as info:
        await client.request(frame)
    assert info.value.code == code, info.value.frame
    return info.value.frame


async def expect_refused(connect: Awaitable[ChatClient], status: int = 403) -> None:
    """The handshake of ``connect`` (a ChatClient constructor call) is refused."""
    with pytest.raises(Refused) as info:
        client = await connect
        await client.close()  # pragma: no cover (only reached when the test fails)
    assert info.value.status == status


async def open_chat(
    cluster: Cluster, clients: Clients, agent: ChatClient, *, server: int = 0, **start: Any
) -> tuple[ChatClient, str]:
    """A visitor starts a chat; ``agent`` gets the offer and accepts it."""
    visitor = clients.add(await cluster.visitor(server=server))
    chat = await visitor.start(**start)
    chat_id = chat["id"]
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id)
    await agent.request({"type": "accept", "chat": chat_id})
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["id"] == chat_id
        and f["chat"]["state"] == "active"
    )
    return visitor, chat_id


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def flip(token: str, i: int) -> str:
    """The token with the top bit of the (URL-safe base64) character at ``i`` flipped."""
    return token[:i] + B64[B64.index(token[i]) ^ 0b100000] + token[i + 1 :]


def everything(client: ChatClient) -> list[Frame]:
    """Every frame a client received: welcome, frames, messages and acks."""
    msgs = [m for chat in client.messages.values() for m in chat]
    return [client.welcome, *client.frames, *msgs, *client.acks.values()]


def mentions(frames: list[Frame], needle: str) -> list[Frame]:
    return [f for f in frames if needle in repr(f)]


async def settle(*clients: ChatClient) -> None:
    """A round trip on each client, then a moment for pub/sub stragglers."""
    for c in clients:
        await c.request({"type": "ping"})
    await asyncio.sleep(scaled(0.3))


def _http_call(
    method: str, url: str, body: Any, headers: dict[str, str]
) -> tuple[int, dict[str, str], Any]:
    parts = urllib.parse.urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, parts.path, body=data,
                     headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(raw or b"null")
    finally:
        conn.close()


async def call(
    method: str, url: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """An HTTP call with any headers (``Cookie``, ``Origin``, ``Authorization``...)."""
    return await asyncio.to_thread(_http_call, method, url, body, headers)


async def cookie_login(base: str, agent_id: str, password: str) -> tuple[str, str]:
    """Log in like the console does; returns (cookie value, Set-Cookie header)."""
    status, headers, body = await call(
        "POST", base + "/api/login", {"id": agent_id, "password": password}
    )
    assert status == 200, body
    set_cookie = headers["set-cookie"]
    value = set_cookie.split(";", 1)[0].split("=", 1)[1]
    return value, set_cookie


class RawSocket:
    """A WebSocket spoken by hand over TCP, for what the websockets client will not do."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, base: str, path: str, *extra_headers: str) -> RawSocket:
        parts = urllib.parse.urlsplit(base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
            "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
            *extra_headers,
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(10))
        except BaseException:
            writer.close()
            await writer.wait_closed()
            raise
        return cls(reader, writer, head)

    @property
    def upgraded(self) -> bool:
        return self.head.startswith(b"HTTP/1.1 101")

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, declared: int | None = None
    ) -> None:
        length = len(payload) if declared is None else declared
        head = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        n = len(payload)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.writer.write(head + mask + masked)

    async def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return b0 & 0x0F, await self.reader.readexactly(length)

    async def frames_until_close(self, timeout: float) -> tuple[list[int], int | None]:
        """Opcodes read until a close frame (returns its code) or the end of the stream."""
        opcodes: list[int] = []

        async def run() -> int | None:
            while True:
                try:
                    opcode, payload = await self.read_frame()
                except asyncio.IncompleteReadError:
                    return None
                opcodes.append(opcode)
                if opcode == 0x8:
                    return int(struct.unpack("!H", payload[:2])[0]) if payload else 1005

        return opcodes, await asyncio.wait_for(run(), timeout)

    async def eof(self, timeout: float) -> bool:
        """True when the server closed the TCP connection (after any pending data)."""
        async def run() -> bool:
            while await self.reader.read(65536):
                pass
            return True

        try:
            return await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


# ---- 1. a visitor's token opens only its own chat ------------------------------------------
async def test_attack_01_visitor_token_cannot_touch_another_chat(
    cluster: Cluster, clients: Clients
) -> None:
    alice = clients.add(await cluster.agent(await cluster.add_agent("alice"), server=1))
    a, chat_a = await open_chat(cluster, clients, alice, server=0, name="Ada")
    b = clients.add(await cluster.visitor(server=1))
    await a.say(chat_a, "secret from A")

    for frame in (
        {"type": "resume", "chat": chat_a, "after": 0},
        {"type": "history", "chat": chat_a},
        {"type": "msg", "chat": chat_a, "cid": "b-1", "text": "injected by B"},
        {"type": "leave", "chat": chat_a},
        {"type": "read", "chat": chat_a, "seq": 1},
        {"type": "typing", "chat": chat_a, "on": True},
    ):
        error = await expect_error(b, frame)
        assert error.get("chat", chat_a) == chat_a

    # a visitor cannot write agents-only notes, even in their own chat
    await expect_error(a, {"type": "msg", "chat": chat_a, "cid": "a-n", "text": "x",
                           "internal": True})

    # A's chat goes on untouched, and B sees nothing of it
    await a.send({"type": "typing", "chat": chat_a, "on": True})
    await alice.wait_for(lambda f: f["type"] == "typing" and f["chat"] == chat_a)
    await alice.say(chat_a, "answer to A")
    msgs = await a.wait_messages(chat_a, 2)
    assert [m["text"] for m in msgs] == ["secret from A", "answer to A"]
    await alice.send({"type": "read", "chat": chat_a, "seq": 1})
    await a.wait_for(lambda f: f["type"] == "read" and f["chat"] == chat_a)
    await settle(a, b, alice)
    assert [m["text"] for m in a.messages[chat_a]] == ["secret from A", "answer to A"]
    assert [m["text"] for m in alice.messages[chat_a]] == ["secret from A", "answer to A"]
    leaked = [f for f in everything(b) if f.get("type") != "error"]
    assert mentions(leaked, chat_a) == []
    assert mentions(everything(b), "secret from A") == []
    assert b.messages == {}
    info = await a.request({"type": "resume", "chat": chat_a, "after": 2})
    assert info["chat"]["state"] == "active"


# ---- 2. a typed name or email is not identity ----------------------------------------------
async def test_attack_02_typed_email_is_not_identity(single: Cluster, clients: Clients) -> None:
    details = {"name": "Ada Lovelace", "email": "ada@example.com"}
    first = clients.add(await single.visitor())
    old_chat = (await first.start(**details))["id"]
    await first.say(old_chat, "my order number is 1234")

    second = clients.add(await single.visitor())
    assert second.welcome["chat"] is None
    assert second.welcome["visitor"] != first.welcome["visitor"]
    assert second.token and second.token != first.token
    new_chat = (await second.start(**details))["id"]
    assert new_chat != old_chat
    await expect_error(second, {"type": "history", "chat": old_chat})
    await expect_error(second, {"type": "resume", "chat": old_chat, "after": 0})
    await settle(first, second)
    assert old_chat not in second.messages
    assert mentions(everything(second), "order number") == []

    # the old chat still belongs to the old token, and only to it
    again = clients.add(await ChatClient.visitor(single.urls[0], token=first.token))
    assert again.welcome["chat"]["id"] == old_chat
    assert "token" not in again.welcome


# ---- 3. agents act on their own chats; supervisor powers are a role -------------------------
async def test_attack_03_agent_cannot_act_on_chat_not_theirs(
    cluster: Cluster, clients: Clients
) -> None:
    alice = clients.add(await cluster.agent(await cluster.add_agent("alice"), server=0))
    visitor = clients.add(await cluster.visitor(server=1))
    chat_id = (await visitor.start(name="Vera"))["id"]
    await alice.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat_id)
    bob = clients.add(await cluster.agent(await cluster.add_agent("bob"), server=1))
    # an offer to alice cannot be taken by bob
    await expect_error(bob, {"type": "accept", "chat": chat_id})
    await alice.request({"type": "accept", "chat": chat_id})
    await visitor.say(chat_id, "private question")

    for frame in (
        {"type": "accept", "chat": chat_id},
        {"type": "close", "chat": chat_id, "outcome": "resolved"},
        {"type": "transfer", "chat": chat_id, "agent": "bob"},
        {"type": "transfer", "chat": chat_id, "topic": "general"},
        {"type": "msg", "chat": chat_id, "cid": "bob-1", "text": "hijack"},
        {"type": "msg", "chat": chat_id, "cid": "bob-2", "text": "note", "internal": True},
        {"type": "history", "chat": chat_id},
        {"type": "resume", "chat": chat_id, "after": 0},
        {"type": "read", "chat": chat_id, "seq": 1},
        {"type": "typing", "chat": chat_id},
        {"type": "watch", "chat": chat_id},
        {"type": "whisper", "chat": chat_id, "cid": "bob-3", "text": "psst"},
    ):
        code = "invalid_state" if frame["type"] == "accept" else "forbidden"
        await expect_error(bob, frame, code)
    # decline of someone else's chat is refused and changes nothing
    with pytest.raises(ClientError):
        await bob.request({"type": "decline", "chat": chat_id})

    await alice.say(chat_id, "still mine")
    msgs = await visitor.wait_messages(chat_id, 2)
    await settle(alice, bob, visitor)
    assert [m["text"] for m in visitor.messages[chat_id]] == ["private question", "still mine"]
    assert [m["from"]["id"] for m in msgs] == [visitor.welcome["visitor"], "alice"]
    state = await alice.request({"type": "resume", "chat": chat_id, "after": 2})
    assert state["chat"]["state"] == "active" and state["chat"]["agent"]["id"] == "alice"
    assert mentions(everything(bob), "private question") == []


async def test_attack_03_supervisor_frames_need_the_supervisor_role(
    cluster: Cluster, clients: Clients
) -> None:
    alice = clients.add(await cluster.agent(await cluster.add_agent("alice"), server=0))
    visitor, chat_id = await open_chat(cluster, clients, alice, server=1)
    plain = clients.add(await cluster.agent(await cluster.add_agent("pat", capacity=0), server=1))
    for frame in (
        {"type": "watch", "chat": chat_id},
        {"type": "unwatch", "chat": chat_id},
        {"type": "whisper", "chat": chat_id, "cid": "w-1", "text": "psst"},
        {"type": "queues"},
    ):
        await expect_error(plain, frame)

    sup_token = await cluster.add_agent("sue", role="supervisor", capacity=0)
    sue = clients.add(await cluster.agent(sup_token, server=1))
    watched = await sue.request({"type": "watch", "chat": chat_id})
    assert watched["chat"]["id"] == chat_id
    ack = await sue.request({"type": "whisper", "chat": chat_id, "cid": "w-1", "text": "psst"})
    assert ack["type"] == "ack"
    whisper = await alice.wait_messages(chat_id, 1)
    assert whisper[-1]["text"] == "psst" and whisper[-1]["internal"] is True
    queues = await sue.request({"type": "queues"})
    assert queues["type"] == "queues" and {a["id"] for a in queues["agents"]} >= {"alice"}
    await visitor.say(chat_id, "after the whisper")
    await sue.wait_messages(chat_id, 2)
    await settle(visitor, sue)
    assert mentions(everything(visitor), "psst") == []


async def test_attack_03_rest_admin_endpoints_check_the_role(single: Cluster) -> None:
    base = single.urls[0]
    agent = await single.add_agent("pat")
    supervisor = await single.add_agent("sue", role="supervisor")
    admin_only = [
        ("POST", "/api/agents", {"id": "mallory", "password": "mallory-password-1"}),
        ("PATCH", "/api/agents/pat", {"role": "admin"}),
        ("DELETE", "/api/agents/sue", None),
        ("PUT", "/api/topics/billing", {"priority": 1}),
        ("DELETE", "/api/topics/general", None),
    ]
    supervising = [("GET", "/api/agents", None), ("GET", "/api/queues", None),
                   ("GET", "/api/agents/sue", None)]
    for method, path, body in admin_only + supervising:
        status, reply = await http(method, base + path, body)
        assert status == 401, (method, path, reply)
        status, reply = await http(method, base + path, body, "not-a-token")
        assert status == 401, (method, path, reply)
        status, reply = await http(method, base + path, body, agent)
        assert (status, reply["error"]) == (403, "forbidden"), (method, path, reply)
    for method, path, body in admin_only:
        status, reply = await http(method, base + path, body, supervisor)
        assert status == 403, (method, path, reply)
    for method, path, body in supervising:
        status, reply = await http(method, base + path, body, supervisor)
        assert status == 200, (method, path, reply)
    # nothing changed
    status, me = await http("GET", base + "/api/me", None, agent)
    assert status == 200 and me["role"] == "agent"
    status, _ = await http("GET", base + "/api/agents/mallory", None, single.admin_token)
    assert status == 404


async def test_attack_03_demoted_supervisor_loses_powers_on_open_socket(
    single: Cluster, clients: Clients
) -> None:
    sue = clients.add(await single.agent(await single.add_agent("sue", role="supervisor")))
    assert (await sue.request({"type": "queues"}))["type"] == "queues"
    status, reply = await http(
        "PATCH", single.urls[0] + "/api/agents/sue", {"role": "agent"}, single.admin_token
    )
    assert status == 200 and reply["role"] == "agent"
    await asyncio.sleep(scaled(0.5))
    try:
        await sue.request({"type": "queues"}, timeout=scaled(5))
    except ClientError as exc:
        assert exc.code == "forbidden"
    except ConnectionError:
        assert sue.closed_code == 4401
    else:
        pytest.fail("a demoted supervisor still gets the queue snapshot on their open socket")


# ---- 4. type confusion ---------------------------------------------------------------------
def _msg(**override: Any) -> bytes:
    return _enc.encode({"type": "msg", "chat": "c1", "cid": "x1", "text": "hi", **override})


EXT = msgspec.msgpack.Ext(7, b"\x00\x01\x02\x03")
TYPE_CONFUSION: list[tuple[str, bytes]] = [
    ("map for a string", _msg(chat={"$ne": ""})),
    ("list for a string", _msg(text=["a", "b"])),
    ("int for a string", _msg(cid=12345)),
    ("bool for a string", _msg(chat=True)),
    ("nil for a string", _msg(text=None)),
    ("binary for a string", _msg(text=b"hi")),
    ("ext for a string", _msg(text=EXT)),
    ("float for an int", _enc.encode({"type": "read", "chat": "c1", "seq": 1.5})),
    ("string for an int", _enc.encode({"type": "read", "chat": "c1", "seq": "1"})),
    ("negative seq", _enc.encode({"type": "read", "chat": "c1", "seq": -1})),
    ("string for a bool", _enc.encode({"type": "typing", "chat": "c1", "on": "yes"})),
    ("binary type", _enc.encode({"type": b"ping"})),
    ("int type", _enc.encode({"type": 1})),
    ("nil type", _enc.encode({"type": None})),
    ("no type", _enc.encode({"chat": "c1"})),
    ("unknown type", _enc.encode({"type": "become_admin"})),
    ("agent frame on the visitor socket", _enc.encode({"type": "queues"})),
    ("integer map key", _enc.encode({1: "ping"})),
    ("integer key next to type", _enc.encode({"type": "ping", 7: "x"})),
    ("binary map key", b"\x81\xc4\x04type\xa4ping"),
    ("not a map: list", _enc.encode(["ping"])),
    ("not a map: int", _enc.encode(42)),
    ("not a map: string", _enc.encode("ping")),
    ("not a map: ext", _enc.encode(EXT)),
    ("fields with a nested map", _enc.encode({"type": "start", "fields": {"a": {"b": "c"}}})),
    ("empty chat id", _msg(chat="")),
    ("overlong chat id", _msg(chat="c" * 65)),
    ("overlong rid", _enc.encode({"type": "ping", "rid": "r" * 65})),
]
MALFORMED: list[tuple[str, bytes]] = [
    ("trailing bytes", _enc.encode({"type": "ping"}) + b"\xc0"),
    ("two frames in one", _enc.encode({"type": "ping"}) * 2),
    ("truncated", _msg()[:-3]),
    ("empty", b""),
    ("invalid opcode", b"\xc1"),
    ("invalid utf-8", b"\x81\xa4type\xa2\xff\xfe"),
    ("deep nesting at the top", b"\x91" * 50_000 + b"\xc0"),
    ("deep nesting in an unknown field", b"\x82\xa4type\xa4ping\xa1x" + b"\x91" * 50_000 + b"\xc0"),
    ("deep nesting of maps", b"\x82\xa4type\xa4ping\xa1x" + b"\x81\xa1k" * 20_000 + b"\xc0"),
    ("huge map length", b"\xdf\xff\xff\xff\xff"),
    ("huge string length", b"\x81\xa4type\xdb\xff\xff\xff\xff"),
    ("huge array length", b"\x82\xa4type\xa4ping\xa1x\xdd\xff\xff\xff\xff"),
    ("huge binary length", b"\x82\xa4type\xa4ping\xa1x\xc6\xff\xff\xff\xff"),
    ("huge ext length", b"\x82\xa4type\xa4ping\xa1x\xc9\xff\xff\xff\xff\x01"),
    ("huge map length inside", b"\x82\xa4type\xa4ping\xa1x\xdf\xff\xff\xff\xff"),
]


async def check_bad_frames(client: ChatClient, cases: list[tuple[str, bytes]]) -> None:
    """Each case gets a bad_frame error and the connection stays usable.  At most 20 bad
    frames per connection per 10 s are answered (then the server closes it), so the
    cases go in batches of 10, each on its own connection (see the caller)."""
    for name, data in cases:
        since = len(client.frames)
        await client.send_raw(data)
        try:
            error = await client.wait_for(lambda f: f["type"] == "error", since=since, timeout=5)
        except TimeoutError:
            pytest.fail(f"{name}: no error frame (closed: {client.closed_code})")
        assert error["code"] == "bad_frame", (name, error)
        pong = await client.request({"type": "ping"})
        assert pong["type"] == "pong", name


async def test_attack_04_type_confusion_rejected(single: Cluster, clients: Clients) -> None:
    for start in range(0, len(TYPE_CONFUSION), 10):
        visitor = clients.add(await single.visitor())
        await check_bad_frames(visitor, TYPE_CONFUSION[start : start + 10])
    # a text (not binary) WebSocket frame
    visitor = clients.add(await single.visitor())
    assert visitor.ws is not None
    since = len(visitor.frames)
    await visitor.ws.send(json.dumps({"type": "ping"}))
    error = await visitor.wait_for(lambda f: f["type"] == "error", since=since)
    assert error["code"] == "bad_frame"
    assert (await visitor.request({"type": "ping"}))["type"] == "pong"
    # the agent socket decodes just as strictly
    agent = clients.add(await single.agent(single.admin_token))
    await check_bad_frames(agent, [
        ("map for a chat id", _enc.encode({"type": "accept", "chat": {"$gt": ""}})),
        ("list for a status", _enc.encode({"type": "status", "status": ["online"]})),
        ("unknown status", _enc.encode({"type": "status", "status": "superuser"})),
        ("ext for an agent", _enc.encode({"type": "transfer", "chat": "c1", "agent": EXT})),
        ("visitor frame on the agent socket", _enc.encode({"type": "start"})),
        ("int for tags", _enc.encode({"type": "close", "chat": "c1", "tags": 5})),
    ])
    # the rid of a refused frame is echoed when it can be read, so clients can match it
    since = len(agent.frames)
    await agent.send_raw(_enc.encode({"type": "accept", "chat": 5, "rid": "r-bad"}))
    error = await agent.wait_for(lambda f: f["type"] == "error", since=since)
    assert error["rid"] == "r-bad" and error["code"] == "bad_frame"


async def test_attack_04_forged_and_mismatched_tokens_compare_as_invalid(
    single: Cluster, clients: Clients
) -> None:
    """Tokens are itsdangerous signatures checked with hmac.compare_digest (constant time,
    not measurable here); a token differing in one character must be refused.  (The last
    character of a base64 segment has unused low bits, so only characters that carry six
    bits are flipped, and in their top bit.)"""
    token = single.admin_token
    payload, stamp, signature = token.split(".")
    starts = [0, len(payload) + 1, len(payload) + len(stamp) + 2]
    for i in [*starts, len(token) - 2]:
        await expect_refused(single.agent(flip(token, i)))
    for broken in (token + "x", token[:-1], f"{payload}.{stamp}", f"{payload}..{signature}"):
        await expect_refused(single.agent(broken))
    agent = clients.add(await single.agent(token))
    assert agent.welcome["role"] == "agent"


# ---- 5. disabling an agent or changing their password ends their sessions ----------------
async def _check_revoked(c: Cluster, agent_id: str, token: str, socks: list[ChatClient]) -> None:
    for sock in socks:
        assert await sock.wait_closed(scaled(10)) == 4401
    await expect_refused(c.agent(token, server=0))
    await expect_refused(c.agent(token, server=1))
    status, _ = await http("GET", c.urls[1] + "/api/me", None, token)
    assert status == 401
    status, _ = await http("GET", c.urls[0] + "/api/queues", None, token)
    assert status == 401


async def test_attack_05_disabling_agent_closes_sockets_and_ends_sessions(
    cluster: Cluster, clients: Clients
) -> None:
    admin = cluster.admin_token
    for agent_id, how in (("carol", "patch"), ("dave", "delete")):
        token = await cluster.add_agent(agent_id)
        socks = [clients.add(await cluster.agent(token, server=i)) for i in (0, 1)]
        url = f"{cluster.urls[0]}/api/agents/{agent_id}"
        if how == "patch":
            status, reply = await http("PATCH", url, {"disabled": True}, admin)
        else:
            status, reply = await http("DELETE", url, None, admin)
        assert status == 200 and reply["disabled"] is True, reply
        await _check_revoked(cluster, agent_id, token, socks)
        with pytest.raises(ClientError):
            await login(cluster.urls[1], agent_id, AGENT_PASSWORD)


async def test_attack_05_password_change_closes_sockets_and_ends_sessions(
    cluster: Cluster, clients: Clients
) -> None:
    token = await cluster.add_agent("erin")
    other_session = await login(cluster.urls[1], "erin", AGENT_PASSWORD)
    socks = [
        clients.add(await cluster.agent(token, server=0)),
        clients.add(await cluster.agent(other_session, server=1)),
    ]
    status, reply = await http(
        "PATCH", cluster.urls[1] + "/api/agents/erin", {"password": "new-password-2"},
        cluster.admin_token,
    )
    assert status == 200, reply
    await _check_revoked(cluster, "erin", token, socks)
    await expect_refused(cluster.agent(other_session, server=1))
    with pytest.raises(ClientError):
        await login(cluster.urls[0], "erin", AGENT_PASSWORD)
    fresh = await login(cluster.urls[0], "erin", "new-password-2")
    sock = clients.add(await cluster.agent(fresh, server=1))
    assert sock.welcome["agent"]["id"] == "erin"

    # logging out ends every session of the agent too
    status, _ = await http("POST", cluster.urls[0] + "/api/logout", {}, fresh)
    assert status == 200
    assert await sock.wait_closed(scaled(10)) == 4401
    await expect_refused(cluster.agent(fresh, server=0))


# ---- 6. fan-out is scoped per chat -----------------------------------------------------------
async def test_attack_06_fanout_scoped_per_chat(cluster: Cluster, clients: Clients) -> None:
    alice = clients.add(await cluster.agent(await cluster.add_agent("alice", capacity=1), server=0))
    v1, chat1 = await open_chat(cluster, clients, alice, server=1, name="One")
    bob = clients.add(await cluster.agent(await cluster.add_agent("bob", capacity=1), server=1))
    v2, chat2 = await open_chat(cluster, clients, bob, server=0, name="Two")
    pairs = [(v1, alice, chat1, "one"), (v2, bob, chat2, "two")]
    for visitor, agent, chat, word in pairs:
        await visitor.send({"type": "typing", "chat": chat, "on": True})
        await visitor.say(chat, f"visitor {word} speaking")
        await agent.say(chat, f"agent {word} answering")
        await agent.say(chat, f"agent {word} note", internal=True)
        await agent.send({"type": "typing", "chat": chat, "on": True})
        await visitor.send({"type": "read", "chat": chat, "seq": 2})
    for visitor, agent, chat, _ in pairs:
        await visitor.wait_messages(chat, 2)
        await agent.wait_messages(chat, 3)
        await agent.wait_for(lambda f, c=chat: f["type"] == "read" and f["chat"] == c)
    await settle(v1, v2, alice, bob)

    def secrets_of(visitor: ChatClient, chat: str, word: str) -> list[str]:
        return [chat, visitor.welcome["visitor"], f"visitor {word}", f"agent {word}"]

    for (visitor, agent, chat, word), (other_v, _, other_chat, other_word) in (
        (pairs[0], pairs[1]), (pairs[1], pairs[0])
    ):
        for client in (visitor, agent):
            seen = everything(client)
            for needle in secrets_of(other_v, other_chat, other_word):
                assert mentions(seen, needle) == [], (client.role, needle)
            assert set(client.messages) == {chat}
        assert [m["text"] for m in visitor.messages[chat]] == [
            f"visitor {word} speaking", f"agent {word} answering"
        ]


# ---- 7. no payload, URL or log line carries a token -------------------------------------------
async def test_attack_07_tokens_never_leak(cluster: Cluster, clients: Clients) -> None:
    agent_token = await cluster.add_agent("alice")
    sup_token = await cluster.add_agent("sue", role="supervisor", capacity=0)
    alice = clients.add(await cluster.agent(agent_token, server=0))
    sue = clients.add(await cluster.agent(sup_token, server=1))
    visitor, chat_id = await open_chat(
        cluster, clients, alice, server=1, name="Ada", email="ada@example.com",
        page="https://shop.example/cart", fields={"plan": "pro"},
    )
    visitor_token = visitor.token
    assert visitor_token and visitor.welcome.get("token") == visitor_token
    tab2 = clients.add(await ChatClient.visitor(cluster.urls[0], token=visitor_token))
    await tab2.request({"type": "resume", "chat": chat_id, "after": 0})
    await sue.request({"type": "watch", "chat": chat_id})
    await visitor.say(chat_id, "hello")
    await alice.say(chat_id, "hi there")
    await sue.request({"type": "whisper", "chat": chat_id, "cid": "w1", "text": "good job"})
    await visitor.send({"type": "typing", "chat": chat_id})
    await sue.request({"type": "queues"})
    await alice.request({"type": "history", "chat": chat_id})
    await visitor.request({"type": "history", "chat": chat_id})
    await alice.wait_messages(chat_id, 3)
    await tab2.wait_messages(chat_id, 2)
    await settle(visitor, tab2, alice, sue)
    await alice.request({"type": "close", "chat": chat_id})
    await visitor.wait_for(lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed")
    await settle(visitor, alice)

    secrets = {
        "visitor token": visitor_token, "agent token": agent_token,
        "supervisor token": sup_token, "admin token": cluster.admin_token,
        "visitor signature": visitor_token.rsplit(".", 1)[-1],
        "agent signature": agent_token.rsplit(".", 1)[-1],
    }
    own_welcome = visitor.welcome
    for who, client in (("visitor", visitor), ("tab2", tab2), ("alice", alice), ("sue", sue)):
        frames = [f for f in everything(client) if f is not own_welcome]
        for name, secret in secrets.items():
            assert mentions(frames, secret) == [], (who, name)
    # REST payloads carry no secrets either
    status, listed = await http("GET", cluster.urls[0] + "/api/agents", None, cluster.admin_token)
    assert status == 200
    dumped = json.dumps(listed)
    assert "argon2" not in dumped and "pw" not in {k for a in listed for k in a}
    for secret in secrets.values():
        assert secret not in dumped

    # a token in the URL is not a credential (so nobody is tempted to put one there)
    for path in (f"/ws/agent?token={agent_token}", f"/ws/agent?access_token={agent_token}"):
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(cluster.urls[0].replace("http", "ws") + path):
                pass  # pragma: no cover
        assert info.value.response.status_code == 403
    # the subprotocol carrying a token is never echoed back
    async with websockets.connect(
        cluster.urls[0].replace("http", "ws") + "/ws/agent",
        subprotocols=["lc.v1", f"lc.token.{agent_token}"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "lc.v1"
        assert agent_token not in str(ws.response.headers)
        welcome = msgspec.msgpack.decode(await ws.recv())
        assert welcome["agent"]["id"] == "alice" and agent_token not in repr(welcome)
    # refused attempts are not logged with the token either
    await expect_refused(cluster.agent(agent_token + "tampered", server=1))
    await expect_refused(ChatClient.visitor(cluster.urls[1], token=visitor_token + "x"))
    await clients.close()
    await asyncio.sleep(scaled(0.3))
    for server in cluster.servers:
        output = server.output()
        for name, secret in secrets.items():
            assert secret not in output, (name, server.url)


# ---- 8. new visitor sessions and logins are rate-limited per address ----------------------
def _login_from(base: str, source: str, agent_id: str, password: str, **headers: str) -> int:
    parts = urllib.parse.urlsplit(base)
    conn = HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        conn.request("POST", "/api/login", json.dumps({"id": agent_id, "password": password}),
                     {"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.timeout(60)
async def test_attack_08_new_visitors_and_logins_rate_limited_per_address(
    redis_url: str, clients: Clients
) -> None:
    # the limits count in fixed one-minute windows: keep clear of a window boundary
    left = 60 - time.time() % 60
    if left < scaled(8):
        await asyncio.sleep(left + 0.5)
    async with make_cluster(
        redis_url, clients, n=2, NEW_VISITORS_PER_MINUTE="3", LOGINS_PER_MINUTE="3"
    ) as c:
        base = c.urls[1]
        visitors = [clients.add(await c.visitor(server=i % 2)) for i in range(3)]
        # the budget is shared by every process
        await expect_refused(c.visitor(server=0))
        await expect_refused(c.visitor(server=1))
        # a known visitor reconnecting with their token is not a new session
        again = clients.add(await ChatClient.visitor(base, token=visitors[0].token))
        assert again.welcome["visitor"] == visitors[0].welcome["visitor"]
        # another address has its own budget
        ws_url = base.replace("http", "ws") + "/ws/visitor"
        async with websockets.connect(ws_url, local_addr=("127.0.0.2", 0)) as ws:
            assert msgspec.msgpack.decode(await ws.recv())["type"] == "welcome"

        # logins: Cluster.start logged in once (on process 0); one good, one bad attempt
        async def attempt(source: str, password: str, **headers: str) -> int:
            return await asyncio.to_thread(
                _login_from, base, source, "admin", password, **headers
            )

        assert await attempt("127.0.0.1", ADMIN_PASSWORD) == 200
        assert await attempt("127.0.0.1", "wrong-guess") == 401
        assert await attempt("127.0.0.1", "wrong-guess-2") == 429
        assert await attempt("127.0.0.1", ADMIN_PASSWORD) == 429
        # a forwarded-for header does not buy a new budget
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
        assert await attempt("127.0.0.1", ADMIN_PASSWORD, **forwarded) == 429
        # another address has its own budget
        status = await attempt("127.0.0.2", ADMIN_PASSWORD)
        assert status == 200


# ---- 10. CSRF on the REST API (cookie + Origin check) --------------------------------------
async def test_attack_10_csrf_cookie_requests_need_an_allowed_origin(single: Cluster) -> None:
    base = single.urls[0]
    await single.add_agent("pat")
    cookie, set_cookie = await cookie_login(base, "admin", ADMIN_PASSWORD)
    attrs = set_cookie.lower()
    assert "httponly" in attrs and "samesite=strict" in attrs
    jar = f"lc_session={cookie}"
    url = base + "/api/agents/pat"

    status, _, reply = await call("PATCH", url, {"capacity": 7}, Cookie=jar)
    assert (status, reply["error"]) == (403, "csrf")
    status, _, reply = await call("PATCH", url, {"capacity": 7}, Cookie=jar, Origin=EVIL)
    assert (status, reply["error"]) == (403, "csrf")
    status, _, reply = await call("PATCH", url, {"capacity": 7}, Cookie=jar, Origin="null")
    assert status == 403
    status, _, reply = await call(
        "PATCH", url, {"capacity": 7}, Cookie=jar, Origin=base + ".evil.example"
    )
    assert status == 403
    status, _, reply = await call("POST", base + "/api/logout", {}, Cookie=jar, Origin=EVIL)
    assert status == 403
    status, headers, reply = await call("GET", url, None, Cookie=jar, Origin=EVIL)
    assert status == 200 and reply["capacity"] == 3  # nothing changed; reads need no Origin
    # ...and a foreign page cannot read the answer: no CORS grant
    assert not any(h.startswith("access-control-") for h in headers), headers

    status, _, reply = await call("PATCH", url, {"capacity": 7}, Cookie=jar, Origin=base)
    assert status == 200 and reply["capacity"] == 7
    status, _, reply = await call(
        "PATCH", url, {"capacity": 8}, Authorization=f"Bearer {single.admin_token}", Origin=EVIL
    )
    assert status == 200 and reply["capacity"] == 8


async def test_attack_10_csrf_non_bearer_authorization_does_not_skip_origin_check(
    single: Cluster,
) -> None:
    base = single.urls[0]
    await single.add_agent("pat")
    cookie, _ = await cookie_login(base, "admin", ADMIN_PASSWORD)
    status, _, reply = await call(
        "PATCH", base + "/api/agents/pat", {"capacity": 9}, Cookie=f"lc_session={cookie}",
        Origin=EVIL, Authorization="Basic " + base64.b64encode(b"staff:proxy-pass").decode(),
    )
    assert status in (401, 403), reply


# ---- 11. cross-site WebSocket hijacking ------------------------------------------------------
async def test_attack_11_websocket_origins_checked(redis_url: str, clients: Clients) -> None:
    shop = "http://shop.example"
    async with make_cluster(redis_url, clients, WIDGET_ORIGINS=shop) as c:
        base, token = c.urls[0], c.admin_token
        for origin in (EVIL, shop, "null", base + ".evil.example", "http://localhost.evil"):
            await expect_refused(c.agent(token, origin=origin))
        own = clients.add(await c.agent(token, origin=base))
        assert own.welcome["role"] == "agent"
        own2 = clients.add(await c.agent(token, origin=base.replace("127.0.0.1", "localhost")))
        assert own2.welcome["role"] == "agent"

        for origin in (EVIL, "null", shop + ".evil.example", "https://shop.example", base):
            await expect_refused(c.visitor(origin=origin))
        widget = clients.add(await c.visitor(origin=shop))
        assert widget.token and widget.welcome["role"] == "visitor"
        # a known visitor token does not open the socket from a foreign site either
        await expect_refused(ChatClient.visitor(base, token=widget.token, origin=EVIL))
        again = clients.add(await ChatClient.visitor(base, token=widget.token, origin=shop))
        assert again.welcome["visitor"] == widget.welcome["visitor"]


# ---- 12. the handshake is authenticated -----------------------------------------------------
@pytest.mark.timeout(60)
async def test_attack_12_handshake_refuses_missing_forged_expired_credentials(
    redis_url: str, clients: Clients
) -> None:
    async with make_cluster(
        redis_url, clients, AGENT_TOKEN_TTL_S="1", VISITOR_TOKEN_TTL_S="1"
    ) as c:
        base = c.urls[0]
        ws_agent = base.replace("http", "ws") + "/ws/agent"
        # no credentials at all
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(ws_agent):
                pass  # pragma: no cover
        assert info.value.response.status_code == 403
        secret = c.env["SECRET_KEY"]
        forged = [
            "forged",
            "eyJhbGciOiJub25lIn0.WyJhZG1pbiIsMV0.",
            URLSafeTimedSerializer("not-the-secret", salt="chatserver.agent").dumps(["admin", 1]),
            URLSafeTimedSerializer(secret, salt="chatserver.visitor").dumps(["admin", 1]),
            URLSafeTimedSerializer(secret, salt="chatserver.agent").dumps("admin"),
            URLSafeTimedSerializer(secret, salt="chatserver.agent").dumps(["ghost", 1]),
            URLSafeTimedSerializer(secret, salt="chatserver.agent").dumps(["admin", 99]),
        ]
        for token in forged:
            await expect_refused(c.agent(token))
        # a token in the subprotocol list is checked just the same
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(
                ws_agent, subprotocols=["lc.v1", "lc.token.forged"]  # type: ignore[list-item]
            ):
                pass  # pragma: no cover
        assert info.value.response.status_code == 403

        visitor = clients.add(await c.visitor())
        chat_id = (await visitor.start())["id"]
        visitor_token = visitor.token
        assert visitor_token
        forged_visitors = [
            "forged",
            URLSafeTimedSerializer("not-the-secret", salt="chatserver.visitor").dumps("v123"),
            URLSafeTimedSerializer(secret, salt="chatserver.agent").dumps(
                visitor.welcome["visitor"]
            ),
            c.admin_token,
            flip(visitor_token, len(visitor_token) - 2),
            flip(visitor_token, 0),
        ]
        for token in forged_visitors:
            await expect_refused(ChatClient.visitor(base, token=token))

        # fresh tokens work; after their lifetime they are refused before the accept
        fresh = await login(base, "admin", ADMIN_PASSWORD)
        agent = clients.add(await c.agent(fresh))
        assert agent.welcome["role"] == "agent"
        again = clients.add(await ChatClient.visitor(base, token=visitor_token))
        assert again.welcome["chat"]["id"] == chat_id
        await asyncio.sleep(3.2)
        await expect_refused(c.agent(fresh))
        status, _ = await http("GET", base + "/api/me", None, fresh)
        assert status == 401
        await expect_refused(ChatClient.visitor(base, token=visitor_token))


# ---- 13. oversize frames ------------------------------------------------------------------
async def test_attack_13_oversize_frame_closes_1009(redis_url: str, clients: Clients) -> None:
    async with make_cluster(redis_url, clients, MAX_FRAME_BYTES="4096") as c:
        base = c.urls[0]
        visitor = clients.add(await c.visitor())
        chat_id = (await visitor.start())["id"]
        assert visitor.welcome["limits"]["max_frame_bytes"] == 4096
        ack = await visitor.say(chat_id, "x" * 3000)  # under the limit: fine
        assert ack["seq"] == 1
        await visitor.send_raw(_msg(chat=chat_id, text="y" * 100_000))
        assert await visitor.wait_closed() == 1009

        # a frame that only announces 1 GB is refused from its header, without the payload
        raw = await RawSocket.open(base, "/ws/visitor")
        try:
            assert raw.upgraded
            raw.send_frame(0x2, b"\x00" * 16, declared=2**30)
            _, code = await raw.frames_until_close(scaled(10))
            assert code == 1009
        finally:
            await raw.close()

        # small fragments adding up to more than the limit are refused as well
        raw = await RawSocket.open(base, "/ws/visitor")
        try:
            raw.send_frame(0x2, b"\x00" * 2000, fin=False)
            raw.send_frame(0x0, b"\x00" * 2000, fin=False)
            raw.send_frame(0x0, b"\x00" * 2000, fin=True)
            _, code = await raw.frames_until_close(scaled(10))
            assert code == 1009
        finally:
            await raw.close()

        # compression is not negotiated (no decompression bomb)
        raw = await RawSocket.open(
            base, "/ws/visitor",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        )
        try:
            assert raw.upgraded
            assert b"permessage-deflate" not in raw.head.lower()
        finally:
            await raw.close()

        status, health = await http("GET", base + "/healthz")
        assert status == 200 and health["status"] == "ok"


# ---- 14. malformed msgpack does not crash anything -----------------------------------------
async def test_attack_14_malformed_msgpack_no_crash(single: Cluster, clients: Clients) -> None:
    alice = clients.add(await single.agent(await single.add_agent("alice")))
    bystander, chat_id = await open_chat(single, clients, alice, name="Bystander")
    await bystander.say(chat_id, "before")
    for start in range(0, len(MALFORMED), 10):
        attacker = clients.add(await single.visitor())
        await check_bad_frames(attacker, MALFORMED[start : start + 10])
    await check_bad_frames(alice, MALFORMED[:8])

    # more than 20 bad frames in 10 s: the connection is closed (policy), nothing else
    attacker = clients.add(await single.visitor())
    for _ in range(25):
        await attacker.send_raw(b"\xc1")
    assert await attacker.wait_closed() == 1008

    server = single.servers[0]
    assert server.proc is not None and server.proc.poll() is None
    status, health = await http("GET", single.urls[0] + "/healthz")
    assert status == 200 and health["status"] == "ok"
    await bystander.say(chat_id, "after")
    await alice.say(chat_id, "still here")
    msgs = await bystander.wait_messages(chat_id, 3)
    assert [m["text"] for m in msgs] == ["before", "after", "still here"]
    assert "Traceback" not in server.output()


# ---- 15. floods are throttled or closed ------------------------------------------------------
async def test_attack_15_message_and_frame_floods_throttled(
    redis_url: str, clients: Clients
) -> None:
    async with make_cluster(
        redis_url, clients, MESSAGES_PER_10S="5", MAX_CONNECTIONS_PER_VISITOR="3"
    ) as c:
        visitor = clients.add(await c.visitor())
        chat_id = (await visitor.start())["id"]
        for i in range(10):
            await visitor.say_nowait(chat_id, f"flood {i}", cid=f"f{i}")

        async def outcome() -> tuple[int, int]:
            while True:
                acks = len(visitor.acks)
                limited = sum(
                    1 for f in visitor.frames
                    if f["type"] == "error" and f["code"] == "rate_limited"
                )
                if acks + limited >= 10:
                    return acks, limited
                await asyncio.sleep(0.02)

        assert await asyncio.wait_for(outcome(), scaled(10)) == (5, 5)
        stored = await visitor.request({"type": "history", "chat": chat_id})
        assert len(stored["msgs"]) == 5

        # typing from another tab: at most one event per typing interval reaches the chat
        tab = clients.add(await ChatClient.visitor(c.urls[0], token=visitor.token))
        for _ in range(10):
            await tab.send({"type": "typing", "chat": chat_id, "on": True})
        await settle(tab, visitor)
        typing = [f for f in visitor.frames if f["type"] == "typing"]
        assert 1 <= len(typing) <= 2

        # connections per visitor are capped: refused (403) or closed at once (4409)
        clients.add(await ChatClient.visitor(c.urls[0], token=visitor.token))
        try:
            extra = await ChatClient.visitor(c.urls[0], token=visitor.token)
        except Refused as exc:
            assert exc.status == 403
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 4409
        else:
            await extra.close()
            pytest.fail("a fourth connection of the same visitor was accepted")

        # a frame flood (more than 5 x the message limit in 10 s) closes the socket
        for _ in range(60):
            await visitor.send({"type": "ping"})
        assert await visitor.wait_closed() == 4429
        assert len([f for f in visitor.frames if f["type"] == "pong"]) < 25


# ---- 16. slow or silent clients and half-open handshakes ----------------------------------
async def test_attack_16_half_open_handshakes_do_not_block_others(
    single: Cluster, clients: Clients
) -> None:
    parts = urllib.parse.urlsplit(single.urls[0])
    address = (parts.hostname, parts.port)
    sockets: list[socket.socket] = []
    try:
        for i in range(60):
            s = socket.create_connection(address, timeout=5)
            sockets.append(s)
            if i % 3 == 1:
                s.sendall(b"GET /ws/visitor HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
            elif i % 3 == 2:
                s.sendall(b"GET /ws/agent HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab")
        alice = clients.add(await single.agent(await single.add_agent("alice")))
        visitor, chat_id = await open_chat(single, clients, alice)
        await visitor.say(chat_id, "served despite the half-open sockets")
        await alice.wait_messages(chat_id, 1)
        status, health = await http("GET", single.urls[0] + "/healthz")
        assert status == 200 and health["status"] == "ok"
    finally:
        for s in sockets:
            s.close()


@pytest.mark.timeout(60)
async def test_attack_16_half_open_handshake_is_timed_out(single: Cluster) -> None:
    parts = urllib.parse.urlsplit(single.urls[0])
    silent, partial = await asyncio.gather(
        asyncio.open_connection(parts.hostname, parts.port),
        asyncio.open_connection(parts.hostname, parts.port),
    )
    try:
        partial[1].write(b"GET /ws/visitor HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        await partial[1].drain()
        # an unfinished request is closed after HANDSHAKE_TIMEOUT_S (3 s in the tests)
        results = await asyncio.gather(
            *(asyncio.wait_for(reader.read(), scaled(7)) for reader, _ in (silent, partial)),
            return_exceptions=True,
        )
        closed = [not isinstance(r, BaseException) for r in results]
        assert closed == [True, True], results
    finally:
        for _, writer in (silent, partial):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@pytest.mark.timeout(60)
async def test_attack_16_silent_client_closed_after_ping_timeout(
    redis_url: str, clients: Clients
) -> None:
    async with make_cluster(
        redis_url, clients, WS_PING_INTERVAL_S="0.5", WS_PING_TIMEOUT_S="0.5"
    ) as c:
        # a client that answers pings (the websockets library does it by itself) stays
        healthy = clients.add(await c.visitor())
        # a client that completed the upgrade and then stops reading and answering
        raw = await RawSocket.open(c.urls[0], "/ws/visitor")
        try:
            assert raw.upgraded
            await asyncio.sleep(scaled(2.5))
            opcodes, code = await raw.frames_until_close(scaled(5))
            assert 0x9 in opcodes, opcodes  # it was pinged
            assert code == 1011, (opcodes, code)
            assert await raw.eof(scaled(5))
        finally:
            await raw.close()
        assert healthy.connected.is_set()
        assert (await healthy.request({"type": "ping"}))["type"] == "pong"


# ---- faults 1 and 2: exactly-once messages ------------------------------------------------
async def test_fault_01_same_client_message_id_stored_once(
    single: Cluster, clients: Clients
) -> None:
    alice = clients.add(await single.agent(await single.add_agent("alice")))
    visitor, chat_id = await open_chat(single, clients, alice)
    first = await visitor.say(chat_id, "pay invoice 42", cid="cid-1")
    assert first["dup"] is False
    visitor.acks.clear()
    again = await visitor.say(chat_id, "pay invoice 42", cid="cid-1")
    assert again["dup"] is True and again["seq"] == first["seq"]
    visitor.acks.clear()
    changed = await visitor.say(chat_id, "pay invoice 43", cid="cid-1")
    assert changed["dup"] is True and changed["seq"] == first["seq"]
    # the agent's own ids are separate from the visitor's
    mine = await alice.say(chat_id, "done", cid="cid-1")
    assert mine["dup"] is False and mine["seq"] == first["seq"] + 1
    await alice.wait_messages(chat_id, 2)
    await settle(visitor, alice)
    history = await alice.request({"type": "history", "chat": chat_id})
    assert [m["text"] for m in history["msgs"]] == ["pay invoice 42", "done"]
    assert [m["text"] for m in alice.messages[chat_id]] == ["pay invoice 42", "done"]
    assert alice.duplicates == 0


async def test_fault_02_resend_after_lost_ack_gives_one_copy(
    cluster: Cluster, clients: Clients
) -> None:
    alice = clients.add(await cluster.agent(await cluster.add_agent("alice"), server=1))
    visitor, chat_id = await open_chat(cluster, clients, alice, server=0)
    token = visitor.token
    assert token
    # a raw socket that sends the message and never reads the ack, then is cut
    ws = await websockets.connect(
        cluster.urls[0].replace("http", "ws") + "/ws/visitor",
        additional_headers={"Authorization": f"Bearer {token}"}, ping_interval=None,
    )
    try:
        await ws.send(_msg(chat=chat_id, cid="lost-ack", text="exactly once"))
        await alice.wait_messages(chat_id, 1)  # the server stored it
    finally:
        ws.transport.abort()
        await ws.wait_closed()
    await visitor.drop()
    await visitor.wait_closed()

    again = clients.add(await ChatClient.visitor(cluster.urls[1], token=token))
    assert again.welcome["chat"]["id"] == chat_id
    await again.request({"type": "resume", "chat": chat_id, "after": 0})
    ack = await again.say(chat_id, "exactly once", cid="lost-ack")
    assert ack["dup"] is True and ack["seq"] == 1
    await alice.say(chat_id, "got it")
    msgs = await again.wait_messages(chat_id, 2)
    await settle(again, alice)
    assert [m["text"] for m in again.messages[chat_id]] == ["exactly once", "got it"]
    assert [m["seq"] for m in msgs] == [1, 2]
    assert [m["text"] for m in alice.messages[chat_id]] == ["exactly once", "got it"]
    history = await again.request({"type": "history", "chat": chat_id})
    assert [m["cid"] for m in history["msgs"]].count("lost-ack") == 1
