"""A returning visitor resumes its chat in the handshake (``resume``/``after`` query
parameters, docs/protocol.md 2.2): the welcome says ``resumed`` and the missed messages
follow it, with no ``resume`` request.  Anything else in those parameters is ignored and
the welcome follows nothing, as before.

Real server processes, real sockets; the raw socket tests read every frame in order."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
import websockets

from chatserver.client import ChatClient
from chatserver.protocol import decode_server
from tests.harness import Cluster, active_chat, scaled

pytestmark = pytest.mark.timeout(60)


def socket_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/ws/visitor"


async def frames_after_connect(
    url: str, token: str, query: dict[str, Any] | None, quiet: float = 0.5
) -> list[dict[str, Any]]:
    """Every frame a visitor socket gets (the welcome first) until ``quiet`` seconds pass
    without one; the socket sends nothing."""
    target = socket_url(url) + ("?" + urlencode(query) if query else "")
    frames: list[dict[str, Any]] = []
    async with websockets.connect(
        target, additional_headers={"Authorization": f"Bearer {token}"}, subprotocols=["lc.v1"]
    ) as ws:  # type: ignore[list-item]
        while True:
            try:
                data = await asyncio.wait_for(ws.recv(), quiet if frames else scaled(10))
            except TimeoutError:
                break
            decode_server(data)  # every frame is a valid server frame
            frames.append(msgspec.msgpack.decode(data))
    return frames


async def chat_with_missed_messages(single: Cluster) -> tuple[ChatClient, str, str, int]:
    """An active chat whose visitor left after seeing one message, and two agent messages
    written since: (agent, visitor token, chat id, last seq the visitor saw)."""
    agent = await ChatClient.agent(single.urls, await single.add_agent("alice"))
    visitor = await ChatClient.visitor(single.urls)
    chat = await active_chat(agent, visitor)
    await agent.say(chat, "first")
    await visitor.wait_messages(chat, 1)
    seen = visitor.last_seq[chat]
    token = visitor.token
    assert token is not None
    await visitor.close()
    await agent.say(chat, "missed 1")
    await agent.say(chat, "missed 2")
    return agent, token, chat, seen


async def test_the_handshake_resumes_the_open_chat_and_replays_what_was_missed(
    single: Cluster,
) -> None:
    agent, token, chat, seen = await chat_with_missed_messages(single)
    try:
        frames = await frames_after_connect(
            single.urls[0], token, {"resume": chat, "after": seen}
        )
        welcome, rest = frames[0], frames[1:]
        assert welcome["type"] == "welcome"
        assert welcome["resumed"] == chat and welcome["chat"]["id"] == chat
        msgs = [f for f in rest if f["type"] == "msg"]
        assert [m["text"] for m in msgs] == ["missed 1", "missed 2"]
        assert all(m["seq"] > seen for m in msgs)
        # from 0: the whole log again, in order
        frames = await frames_after_connect(single.urls[0], token, {"resume": chat, "after": 0})
        texts = [f["text"] for f in frames[1:] if f["type"] == "msg"]
        assert texts[-3:] == ["first", "missed 1", "missed 2"]
    finally:
        await agent.close()


@pytest.mark.parametrize(
    "query",
    [
        None,
        {"resume": "c0000000000000000", "after": 0},  # not the visitor's chat
        {"after": 0},  # no chat named
        {"resume": "CHAT", "after": "-1"},
        {"resume": "CHAT", "after": "two"},
        {"resume": "CHAT", "after": str(2**60)},
        {"resume": "x" * 65, "after": 0},
    ],
    ids=["none", "other-chat", "no-chat", "negative", "not-a-number", "too-big", "long-id"],
)
async def test_a_handshake_without_a_valid_resume_follows_nothing(
    single: Cluster, query: dict[str, Any] | None
) -> None:
    agent, token, chat, _ = await chat_with_missed_messages(single)
    try:
        if query is not None and query.get("resume") == "CHAT":
            query = {**query, "resume": chat}
        frames = await frames_after_connect(single.urls[0], token, query)
        assert frames[0]["type"] == "welcome" and frames[0]["chat"]["id"] == chat
        assert "resumed" not in frames[0]
        assert not [f for f in frames if f["type"] == "msg"]
    finally:
        await agent.close()


async def test_a_new_visitor_naming_a_chat_resumes_nothing(single: Cluster) -> None:
    """Without a token there is no chat of one's own: the parameters are ignored (and a
    stranger's chat id gives nothing away)."""
    agent, _, chat, _ = await chat_with_missed_messages(single)
    try:
        async with websockets.connect(
            f"{socket_url(single.urls[0])}?{urlencode({'resume': chat, 'after': 0})}",
            subprotocols=["lc.v1"],  # type: ignore[list-item]
        ) as ws:
            welcome = msgspec.msgpack.decode(await ws.recv())
            assert welcome["type"] == "welcome" and "token" in welcome
            assert "resumed" not in welcome and welcome["chat"] is None
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
    finally:
        await agent.close()


async def test_the_client_library_reconnects_without_a_resume_request(single: Cluster) -> None:
    """``ChatClient`` names its chat in the handshake when it reconnects: the welcome
    says ``resumed``, the missed messages arrive, and it sends no ``resume``."""
    agent = await ChatClient.agent(single.urls, await single.add_agent("alice"))
    visitor = await ChatClient.visitor(single.urls, reconnect=True)
    sent: list[dict[str, Any]] = []
    send = visitor.send

    async def recording(frame: dict[str, Any]) -> None:
        sent.append(frame)
        await send(frame)

    visitor.send = recording  # type: ignore[method-assign]
    try:
        chat = await active_chat(agent, visitor)
        await agent.say(chat, "before")
        await visitor.wait_messages(chat, 1)
        await visitor.drop()
        await agent.say(chat, "while away")
        got = await visitor.wait_messages(chat, 2, timeout=scaled(20))
        assert [m["text"] for m in got] == ["before", "while away"]
        assert visitor.welcome.get("resumed") == chat and visitor.connects == 2
        assert not [f for f in sent if f["type"] == "resume"]
        assert visitor.duplicates == 0
    finally:
        await visitor.close()
        await agent.close()
