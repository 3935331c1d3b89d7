"""Typing preview (docs/protocol.md 7.4): with TYPING_PREVIEW on, a visitor's draft rides on
its ``typing`` frames and reaches the chat's agents and supervisors only, on every process,
throttled, limited in length, and never stored; with it off (the default) the server drops
whatever draft a client sends.

Real ``chatserver serve`` processes and a real Redis, driven by raw clients.  Nothing here
waits for something not to happen: a client's ``typing {on: false}`` is relayed after
everything it sent before (one connection's frames are handled in order, and a chat's
channel keeps its order), so once a receiver has it, it has had every earlier event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from chatserver.client import ChatClient, ClientError
from chatserver.protocol import decode_server
from tests.harness import Cluster, active_chat, close_quietly, running, scaled

Frame = dict[str, Any]

pytestmark = pytest.mark.timeout(90)


def typing_in(chat: str, **match: Any) -> Callable[[Frame], bool]:
    return lambda f: (
        f["type"] == "typing"
        and f.get("chat") == chat
        and all(f.get(k) == v for k, v in match.items())
    )


def typings(client: ChatClient, chat: str) -> list[Frame]:
    frames = [f for f in client.frames if typing_in(chat)(f)]
    for f in frames:
        decode_server(msgspec.msgpack.encode(f))  # each one is a valid server frame
    return frames


async def stopped(sender: ChatClient, chat: str, *receivers: ChatClient) -> None:
    """``sender`` stops typing; wait until each receiver has the ``on: false`` (and so
    every event ``sender`` caused before it)."""
    role = sender.role
    marks = [len(r.frames) for r in receivers]
    await sender.send({"type": "typing", "chat": chat, "on": False})
    for r, since in zip(receivers, marks, strict=True):
        await r.wait_for(
            lambda f: typing_in(chat, on=False)(f) and f["from"]["role"] == role,
            scaled(10),
            since=since,
        )


async def stored_anywhere(cluster: Cluster, marker: str) -> list[str]:
    """The cluster's Redis keys whose content holds ``marker``."""
    r = cluster.redis()
    found: list[str] = []
    try:
        async for key in r.scan_iter(match=f"{cluster.prefix}:*"):
            kind = (await r.type(key)).decode()
            if kind == "string":
                content: Any = await r.get(key)
            elif kind == "hash":
                content = await r.hgetall(key)
            elif kind == "stream":
                content = await r.xrange(key)
            elif kind == "list":
                content = await r.lrange(key, 0, -1)
            elif kind == "set":
                content = await r.smembers(key)
            elif kind == "zset":
                content = await r.zrange(key, 0, -1)
            else:
                continue
            if marker.encode() in repr(content).encode():
                found.append(key.decode())
    finally:
        await r.aclose()
    return found


async def test_the_draft_reaches_agents_and_supervisors_on_both_processes_only(
    redis_url: str,
) -> None:
    async with running(redis_url, n=2, TYPING_PREVIEW="true") as c:
        agent = await c.agent(await c.add_agent("ana", capacity=2), server=0)
        sup = await c.agent(await c.add_agent("sue", capacity=0, role="supervisor"), server=0)
        v = await c.visitor(server=1)
        other = await c.visitor(server=0)
        clients = [agent, sup, v, other]
        try:
            assert v.welcome["limits"]["typing_preview"] is True
            assert agent.welcome["limits"]["typing_preview"] is True
            assert v.welcome["limits"]["typing_preview_chars"] == 500
            chat = await active_chat(agent, v)
            other_chat = await active_chat(agent, other)
            tab = await c.visitor(server=0, token=v.token)  # the visitor's second tab
            clients.append(tab)
            await tab.request({"type": "resume", "chat": chat, "after": 0})
            await sup.request({"type": "watch", "chat": chat})

            draft = "Hello, I need help with order zq7-draft"
            await v.send({"type": "typing", "chat": chat, "text": draft})
            # the agent on the other process, and the watching supervisor, see the draft
            got = await agent.wait_for(typing_in(chat, text=draft), scaled(10))
            assert got["on"] is True and got["from"]["role"] == "visitor"
            assert got["from"]["id"] == v.welcome["visitor"]
            await sup.wait_for(typing_in(chat, text=draft), scaled(10))
            await v.say(chat, "Hello, I need help")
            await stopped(v, chat, agent, sup, tab)

            # no visitor connection got a draft: not the sender's other tab, not another
            # visitor of the same agent
            assert not any("text" in f for f in typings(tab, chat))
            assert typings(other, chat) == []
            assert not any("text" in f for f in typings(other, other_chat))
            # the agents got the draft once and nothing else carried it
            assert [f.get("text") for f in typings(agent, chat)] == [draft, None]

            # an agent's draft is never relayed: the visitor gets a plain indicator
            await agent.send({"type": "typing", "chat": chat, "text": "agent draft zq7"})
            await stopped(agent, chat, v, sup)
            from_agent = [f for f in typings(v, chat) if f["from"]["role"] == "agent"]
            assert [(f["on"], "text" in f) for f in from_agent] == [(True, False), (False, False)]
            assert all(
                "text" not in f for f in typings(sup, chat) if f["from"]["role"] == "agent"
            )

            # never stored: not in history, not anywhere in Redis
            page = await agent.request({"type": "history", "chat": chat})
            assert [m["text"] for m in page["msgs"] if m["kind"] == "message"] == [
                "Hello, I need help"
            ]
            assert await stored_anywhere(c, "zq7") == []
        finally:
            await close_quietly(clients)


async def test_drafts_are_throttled_and_limited_in_length(redis_url: str) -> None:
    # intervals of a minute: the throttle's outcome does not depend on how fast the test runs
    async with running(
        redis_url,
        TYPING_PREVIEW="1",
        TYPING_PREVIEW_CHARS="20",
        TYPING_PREVIEW_INTERVAL_S="60",
        TYPING_INTERVAL_S="60",
    ) as c:
        agent = await c.agent(await c.add_agent("ana"))
        v = await c.visitor()
        try:
            assert v.welcome["limits"]["typing_preview_chars"] == 20
            assert v.welcome["limits"]["typing_preview_interval_s"] == 60
            chat = await active_chat(agent, v)
            with pytest.raises(ClientError) as refused:
                await v.request({"type": "typing", "chat": chat, "text": "x" * 21})
            assert refused.value.code == "too_large"
            assert refused.value.frame.get("chat") == chat
            for draft in ("H", "He", "Hel", "Hell"):  # within one interval: the first goes
                await v.send({"type": "typing", "chat": chat, "text": draft})
            await v.send({"type": "typing", "chat": chat, "text": "x" * 20})  # the limit
            await stopped(v, chat, agent)
            # stopping re-arms the throttle: the next draft goes at once
            await v.send({"type": "typing", "chat": chat, "text": "Hello"})
            await stopped(v, chat, agent)
            seen = [(f["on"], f.get("text")) for f in typings(agent, chat)]
            assert seen == [(True, "H"), (False, None), (True, "Hello"), (False, None)]
        finally:
            await close_quietly([agent, v])


async def test_with_preview_off_a_client_cannot_push_drafts(single: Cluster) -> None:
    agent = await single.agent(await single.add_agent("ana"))
    sup = await single.agent(await single.add_agent("sue", capacity=0, role="supervisor"))
    v = await single.visitor()
    try:
        assert v.welcome["limits"]["typing_preview"] is False
        assert agent.welcome["limits"]["typing_preview"] is False
        chat = await active_chat(agent, v)
        await sup.request({"type": "watch", "chat": chat})
        # a modified client sends drafts anyway, one far over the preview limit: they are
        # dropped unread (no error), the frames count as plain indicators
        await v.send({"type": "typing", "chat": chat, "text": "secret zq7"})
        await v.send({"type": "typing", "chat": chat, "text": "y" * 3000})
        await stopped(v, chat, agent, sup)
        for receiver in (agent, sup):
            frames = typings(receiver, chat)
            assert [f["on"] for f in frames] == [True, False]
            assert not any("text" in f for f in frames)
        assert await stored_anywhere(single, "zq7") == []
    finally:
        await close_quietly([agent, sup, v])
