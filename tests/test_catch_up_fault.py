"""A catch-up that cannot read the chat log must not leave the client without what it
missed: the hub retries the read, then closes the socket with 1013 so that the client
resumes (``hub/connection.py``).  It used to log the failure and go on, and a visitor in
the full reconnect-storm bench never got 21 of its agents' messages.

Real parts: an in-process hub on a real Valkey, real WebSockets.  The fault: while the
visitor resumes, the hub's message store is one whose Redis client is closed, so every
log read fails at once, as a refused read of an overloaded client does."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatserver.client import ChatClient, http, login
from chatserver.hub.node import Node
from chatserver.protocol import CloseCode
from chatserver.store.messages import MessageStore
from chatserver.store.redis_conn import connect
from chatserver.store.scripts import Scripts
from tests.harness import ADMIN_PASSWORD, AGENT_PASSWORD, scaled
from tests.inprocess import FakeClock, inprocess_hubs


@pytest.mark.timeout(120)
async def test_a_catch_up_that_cannot_read_makes_the_client_resume(redis_url: str) -> None:
    clock = FakeClock(int(time.time() * 1000))
    nodes: list[Node] = []
    async with inprocess_hubs(redis_url, clock, nodes=nodes, presence_ttl_s=100_000.0) as urls:
        url, node = urls[0], nodes[0]
        admin = await login(url, "admin", ADMIN_PASSWORD)
        status, body = await http(
            "POST",
            url + "/api/agents",
            {"id": "alice", "password": AGENT_PASSWORD, "capacity": 1, "skills": {}},
            admin,
        )
        assert status == 201, body
        await http("PATCH", url + "/api/agents/admin", {"capacity": 0}, admin)
        alice = await ChatClient.agent(url, await login(url, "alice", AGENT_PASSWORD))
        visitor = await ChatClient.visitor(url, reconnect=True)
        broken = connect(redis_url)
        await broken.aclose()
        working = node.messages
        try:
            chat = (await visitor.start(name="Vera"))["id"]
            await alice.wait_for(
                lambda f: f["type"] == "offer" and f["chat"]["id"] == chat, scaled(10)
            )
            await alice.request({"type": "accept", "chat": chat})
            for text in ("one", "two", "three"):
                await alice.say(chat, text)
            await visitor.wait_messages(chat, 3, scaled(10))

            node.messages = MessageStore(broken, node.keys, Scripts(broken), node.settings)
            await visitor.send({"type": "resume", "chat": chat, "after": 0})
            # six reads over about 2.5 s, then the socket is closed for the client to resume
            assert await visitor.wait_closed(scaled(20)) == CloseCode.TRY_AGAIN
            node.messages = working

            deadline = time.monotonic() + scaled(20)
            while not (visitor.connects >= 2 and visitor.connected.is_set()):
                assert time.monotonic() < deadline, "the visitor did not reconnect"
                await asyncio.sleep(0.05)
            await alice.say(chat, "four")
            messages = await visitor.wait_messages(chat, 4, scaled(10))
            assert [m["text"] for m in messages] == ["one", "two", "three", "four"]
        finally:
            node.messages = working
            await visitor.close()
            await alice.close()
