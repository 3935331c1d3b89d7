"""Issue 10, items 3 and 4 (in part): the relay path and the first frame of a socket.

- item 3: a message is not sent back to the connection that wrote it (its ``ack`` has the
  seq); the sender's other connections and the other participant get it once;
- item 4: ``welcome`` is the first frame of every socket, also when the connect itself
  routes a queued chat to the agent (auto-accept) before its welcome is ready.

Real ``chatserver serve`` processes and a real Valkey.  The sockets whose frames are
counted are raw websockets + msgpack (``chatserver.client`` would hide an echo: it merges
its own messages from the ack).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import websockets

from chatserver.client import ChatClient
from chatserver.store.keys import Keys
from tests.harness import Cluster, running, scaled

Frame = dict[str, Any]
_decode = msgspec.msgpack.Decoder(dict[str, Any]).decode
_encode = msgspec.msgpack.Encoder().encode


class Raw:
    """A bare socket: every frame it receives, in order, the first one included."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str, path: str, token: str) -> Raw:
        ws = await websockets.connect(
            base.replace("http://", "ws://") + path,
            additional_headers={"Authorization": f"Bearer {token}"},
            subprotocols=["lc.v1"],  # type: ignore[list-item]
            compression=None, open_timeout=scaled(10), ping_interval=None,
        )
        return cls(ws)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for data in self.ws:
                self.frames.append(_decode(data))
                self._changed.set()

    async def wait(
        self, pred: Callable[[Frame], bool], timeout: float = 10, since: int = 0
    ) -> Frame:
        async def scan() -> Frame:
            seen = since
            while True:
                for f in self.frames[seen:]:
                    if pred(f):
                        return f
                seen = len(self.frames)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), scaled(timeout))

    async def send(self, frame: Frame) -> None:
        await self.ws.send(_encode(frame))

    def count(self, pred: Callable[[Frame], bool]) -> int:
        return sum(1 for f in self.frames if pred(f))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


def msg_with(cid: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "msg" and f.get("cid") == cid


def assigned(chat: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat


def ack_of(cid: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "ack" and f.get("cid") == cid


async def active_chat(agent: ChatClient, visitor: ChatClient) -> str:
    chat = await visitor.start()
    await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] == chat["id"])
    await agent.request({"type": "accept", "chat": chat["id"]})
    await visitor.wait_for(
        lambda f: f["type"] == "chat" and f["chat"]["id"] == chat["id"]
        and f["chat"]["state"] == "active"
    )
    return str(chat["id"])


async def follow(raw: Raw, chat: str) -> None:
    """Make the raw socket follow the chat (from its current end) and wait for it."""
    welcome = await raw.wait(lambda f: f["type"] == "welcome")
    known = [welcome.get("chat") or {}, *welcome.get("chats", [])]
    after = next((c.get("seq", 0) for c in known if c.get("id") == chat), 0)
    await raw.send({"type": "resume", "chat": chat, "after": after, "rid": "follow"})
    await raw.wait(lambda f: f.get("rid") == "follow")


# ---- item 3: no echo to the sending connection ---------------------------------------------
@pytest.mark.timeout(60)
async def test_i10_03_visitor_sender_gets_ack_not_its_own_msg(redis_url: str) -> None:
    async with running(redis_url) as cl:
        agent = await cl.agent(await cl.add_agent("alice"))
        visitor = await cl.visitor()
        chat = await active_chat(agent, visitor)
        assert visitor.token
        url = cl.urls[0]
        sender = await Raw.open(url, "/ws/visitor", visitor.token)
        tab = await Raw.open(url, "/ws/visitor", visitor.token)  # the same visitor's 2nd tab
        for raw in (sender, tab):
            await follow(raw, chat)
        cids = [f"v{secrets.token_hex(6)}" for _ in range(3)]
        for cid in cids:
            await sender.send({"type": "msg", "chat": chat, "cid": cid, "text": cid})
            await sender.wait(ack_of(cid))
        # a message after them: delivery per connection is in seq order, so once the
        # sender has this one, any echo of its own would already be there
        reply = await agent.say(chat, "after")
        await sender.wait(msg_with(reply["cid"]))
        for raw in (tab,):
            await raw.wait(msg_with(reply["cid"]))
        await agent.wait_messages(chat, 4)
        await visitor.wait_messages(chat, 4)
        for cid in cids:
            assert sender.count(ack_of(cid)) == 1
            assert sender.count(msg_with(cid)) == 0  # no echo to the sending connection
            assert tab.count(msg_with(cid)) == 1  # the visitor's other tab stays in sync
        assert sender.count(lambda f: f["type"] == "msg") == 1  # only the agent's
        acks = {f["cid"]: f["seq"] for f in sender.frames if f["type"] == "ack"}
        assert [m["seq"] for m in tab.frames if m["type"] == "msg"] == [
            *(acks[c] for c in cids), reply["seq"],
        ]
        # the other participant and the visitor's third connection: each message once
        assert [m["text"] for m in agent.messages[chat]] == [*cids, "after"]
        assert [m["text"] for m in visitor.messages[chat]] == [*cids, "after"]
        assert agent.duplicates == 0 and visitor.duplicates == 0
        for raw in (sender, tab):
            await raw.close()
        await agent.close()
        await visitor.close()


@pytest.mark.timeout(60)
async def test_i10_03_agent_sender_gets_ack_not_its_own_msg_or_note(redis_url: str) -> None:
    async with running(redis_url) as cl:
        token = await cl.add_agent("alice")
        agent = await cl.agent(token)
        visitor = await cl.visitor()
        chat = await active_chat(agent, visitor)
        url = cl.urls[0]
        sender = await Raw.open(url, "/ws/agent", token)
        console2 = await Raw.open(url, "/ws/agent", token)
        for raw in (sender, console2):
            await follow(raw, chat)
        await sender.send({"type": "msg", "chat": chat, "cid": "a1", "text": "hello"})
        await sender.wait(ack_of("a1"))
        await sender.send(
            {"type": "msg", "chat": chat, "cid": "n1", "text": "note", "internal": True}
        )
        await sender.wait(ack_of("n1"))
        mine = await visitor.say(chat, "thanks")
        await sender.wait(msg_with(mine["cid"]))
        await console2.wait(msg_with(mine["cid"]))
        for cid in ("a1", "n1"):
            assert sender.count(msg_with(cid)) == 0
            assert console2.count(msg_with(cid)) == 1
        assert sender.count(lambda f: f["type"] == "msg") == 1
        await visitor.wait_messages(chat, 2)
        assert [m["text"] for m in visitor.messages[chat]] == ["hello", "thanks"]
        await agent.wait_messages(chat, 3)
        assert [m["text"] for m in agent.messages[chat]] == ["hello", "note", "thanks"]
        assert visitor.duplicates == 0 and agent.duplicates == 0
        # a replay the client asks for (resume) does include its own messages
        mark = len(sender.frames)
        await sender.send({"type": "resume", "chat": chat, "after": 0, "rid": "again"})
        await sender.wait(lambda f: f.get("rid") == "again", since=mark)
        await sender.wait(msg_with(mine["cid"]), since=mark)
        assert sender.count(msg_with("a1")) == 1 and sender.count(msg_with("n1")) == 1
        for raw in (sender, console2):
            await raw.close()
        await agent.close()
        await visitor.close()


@pytest.mark.timeout(60)
async def test_i10_03_python_client_shows_own_message_once_across_reconnect(
    redis_url: str,
) -> None:
    async with running(redis_url) as cl:
        agent = await cl.agent(await cl.add_agent("alice"))
        visitor = await ChatClient.visitor(cl.urls[0], reconnect=True)
        chat = await active_chat(agent, visitor)
        await agent.say(chat, "hi")
        await visitor.wait_messages(chat, 1)
        ack = await visitor.say(chat, "mine")
        held = visitor.messages[chat]
        assert [(m["text"], m["seq"]) for m in held] == [("hi", 1), ("mine", ack["seq"])]
        assert held[1]["from"]["role"] == "visitor"
        assert visitor.last_seq[chat] == 1  # a message from the ack does not move it
        # the socket drops: the client resumes after 1, the replay brings "mine" back
        connects = visitor.connects
        assert visitor.ws is not None
        await visitor.ws.close()
        await visitor.wait_for(lambda f: visitor.connects > connects, timeout=scaled(10))
        await agent.say(chat, "after")
        await visitor.wait_messages(chat, 3)
        await asyncio.sleep(scaled(0.3))
        assert [m["text"] for m in visitor.messages[chat]] == ["hi", "mine", "after"]
        assert visitor.duplicates == 0
        await agent.close()
        await visitor.close()


# ---- item 4: welcome first -----------------------------------------------------------------
async def _wait_unavailable(cl: Cluster, agent_id: str) -> None:
    """Until the server recorded the agent's disconnect (out of the available set), so
    that the next connect makes them available again and routes the queue to them."""
    keys = Keys(prefix=cl.prefix)
    redis = cl.redis()
    try:
        for _ in range(int(scaled(10) / 0.02)):
            if not await redis.sismember(keys.available, agent_id):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{agent_id} still available")
    finally:
        await redis.aclose()


@pytest.mark.timeout(240)
async def test_i10_04_agent_socket_gets_welcome_first_when_its_connect_routes_a_chat(
    redis_url: str,
) -> None:
    """Auto-accept, chats queued for the agent's skill: the connect itself makes the agent
    available, and the drain assigns them while the welcome is being built (slow here:
    the agent already holds many chats, one chat view each).  30 sockets over 3 agents;
    the first frame of every one must be ``welcome``, the ``assigned`` frames after it."""
    agents, reconnects, held = 3, 10, 12
    async with running(redis_url, auto_accept="true", offline_grace_s="600") as cl:
        url = cl.urls[0]
        visitors: list[ChatClient] = []
        firsts: list[list[str]] = []

        async def queue(skill: str, n: int) -> list[str]:
            started = []
            for _ in range(n):
                v = await cl.visitor()
                visitors.append(v)
                started.append(str((await v.start(topic=skill))["id"]))
            return started

        async def connect(token: str, chats: list[str]) -> None:
            raw = await Raw.open(url, "/ws/agent", token)
            try:
                for chat in chats:
                    await raw.wait(assigned(chat))
                await raw.wait(lambda f: f["type"] == "welcome")
                firsts.append([f["type"] for f in raw.frames[:2]])
                assert raw.count(lambda f: f["type"] == "welcome") == 1
            finally:
                await raw.close()

        try:
            for i in range(agents):
                skill, agent_id = f"s{i}", f"agent{i}"
                await cl.set_topic(skill, required={skill: 5})
                token = await cl.add_agent(
                    agent_id, capacity=held + reconnects + 1, skills={skill: 5}
                )
                await connect(token, await queue(skill, held))
                for _ in range(reconnects - 1):
                    await _wait_unavailable(cl, agent_id)
                    await connect(token, await queue(skill, 1))
        finally:
            for v in visitors:
                await v.close()
        assert len(firsts) == agents * reconnects
        assert [f[0] for f in firsts] == ["welcome"] * len(firsts)
