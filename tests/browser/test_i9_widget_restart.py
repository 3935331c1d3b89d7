"""Issue 9, item 3, in a real browser: a server restart must not cut a visitor off their
chat.  The widget keeps its token through the outage however many handshakes fail, and
drops it only when the server, once reachable, answers that it is invalid.

The widget reaches the server through a TCP proxy that records every WebSocket handshake
(with or without a token) and can make the server unreachable, so that the outage lasts
at least as many failed handshakes as the test needs, whatever the machine's speed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from chatserver.client import ChatClient
from tests.browser.test_widget_support import (
    Proxy,
    W,
    accept,
    agent_texts,
    browser_page,
    chat_id_of,
    clients,
    eventually,
    host_page,
    running,
    site,
    start_chat,
)
from tests.harness import scaled

pytestmark = pytest.mark.timeout(150)

# Presence and leave graces longer than the outage: this is about the visitor's token.
PATIENT = {"presence_ttl_s": "60", "offline_grace_s": "60", "visitor_leave_grace_s": "120"}

OLD_RULE_REFUSALS = 5
"""The widget used to connect without its token after this many failed handshakes."""


class WatchingProxy(Proxy):
    """The test proxy, recording for every WebSocket handshake whether it carried a
    visitor token (``lc.token.`` in its subprotocol list).  While ``cut()``, every
    connection is refused as if the server were down; while ``blocking``, only the
    socket handshakes and the token checks are (the page and the script still load)."""

    CHECK = b"/api/visitor/check"

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.handshakes: list[bool] = []
        self.blocking = False

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, downstream: bool) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if not downstream and self.blocking and self.CHECK in data:
                return  # a token check on a kept-alive connection: drop the connection
            writer.write(data)
            await writer.drain()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = b""
        with contextlib.suppress(Exception):
            first = await asyncio.wait_for(reader.read(65536), 5)
        if b" /ws/" in first.split(b"\r\n", 1)[0]:
            self.handshakes.append(b"lc.token." in first)
        head = first.split(b"\r\n", 1)[0]
        blocked = self.blocking and (b" /ws/" in head or self.CHECK in head)
        if self.refusing or blocked or not first:
            writer.transport.abort()
            return
        await self._relay(reader, writer, first)


@contextlib.asynccontextmanager
async def watching(port: int) -> AsyncIterator[WatchingProxy]:
    proxy = WatchingProxy(port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def stored_token(page: Page) -> str | None:
    value = await page.evaluate(
        "(() => { for (const k of Object.keys(localStorage))"
        " if (k.endsWith('token')) return localStorage.getItem(k); return null; })()"
    )
    return None if value is None else str(value)


async def test_i9_03_widget_keeps_its_chat_through_a_server_restart(
    browser: Browser, redis_url: str
) -> None:
    async with (
        running(redis_url, 1, **PATIENT) as cluster,
        watching(cluster.servers[0].port) as proxy,
        site() as shop,
        browser_page(browser) as (_, page),
    ):
        server = cluster.servers[0]
        agent = await ChatClient.agent(cluster.urls[0], await cluster.add_agent("alice",
                                       name="Alice"), reconnect=True, reconnect_max_delay=0.2)
        async with clients(agent):
            await page.goto(shop.page("/", host_page(proxy.url + "/widget.js")))
            w = W(page)
            await start_chat(w)
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            await w.say("v1")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "a1")
            await w.wait_texts(["v1", "a1"])
            token = await stored_token(page)
            assert token

            # about 2 s after the accept the server stops (SIGTERM) while both sides type
            await asyncio.sleep(scaled(1))
            proxy.cut()  # unreachable for the widget until the test says so
            before = len(proxy.handshakes)
            await asyncio.to_thread(server.stop)
            await w.say("v2, while the server is away")
            await expect(w.mine.last).to_have_attribute("data-state", "sending")
            await eventually(lambda: _down(agent))
            with contextlib.suppress(ConnectionError):
                await agent.say_nowait(chat_id, "a2, while the server is away", "a2cid")
            await w.say("v3, while the server is away")

            # it comes back on the same port; the widget has failed more handshakes than
            # the old rule allowed before it tried without its token
            await asyncio.to_thread(server.start)
            await eventually(lambda: _at_least(proxy, before + OLD_RULE_REFUSALS), 60)
            proxy.restore()

            expected = ["v1", "a1", "v2, while the server is away",
                        "v3, while the server is away", "a2, while the server is away"]
            await agent.wait_messages(chat_id, len(expected), scaled(30))
            await w.wait_texts(_order(agent, chat_id))
            await expect(w.banner).to_be_hidden()
            await expect(w.title).to_have_text("Alice")
            assert sorted(agent_texts(agent, chat_id)) == sorted(expected)
            assert await stored_token(page) == token
            # every handshake carried the token: the server never saw a new visitor
            assert all(proxy.handshakes[before:]), proxy.handshakes[before:]
            assert len(await w.events("chatStarted")) == 1
            await asyncio.sleep(scaled(0.5))
            assert sorted(agent_texts(agent, chat_id)) == sorted(expected)  # once each
            await eventually(lambda: _all_sent(w))

            # a reload still shows the chat, not a pre-chat form
            await page.reload()
            await expect(w.panel).to_be_visible()
            await w.wait_texts(_order(agent, chat_id))
            await expect(w.input).to_be_visible()
            await expect(w.field("name")).to_have_count(0)
            assert await stored_token(page) == token

            # and the chat goes on
            await w.say("v4")
            await agent.wait_messages(chat_id, len(expected) + 1, scaled(10))
            await agent.say(chat_id, "a4")
            await agent.wait_messages(chat_id, len(expected) + 2, scaled(10))
            await w.wait_texts(_order(agent, chat_id))
            assert all(proxy.handshakes[before:])


async def test_i9_03_widget_drops_a_dead_token_only_on_the_servers_answer(
    browser: Browser, redis_url: str
) -> None:
    async with (
        running(redis_url, 1, **PATIENT) as cluster,
        watching(cluster.servers[0].port) as proxy,
        site() as shop,
        browser_page(browser) as (_, page),
    ):
        agent = await ChatClient.agent(cluster.urls[0], await cluster.add_agent("alice"))
        async with clients(agent):
            await page.goto(shop.page("/", host_page(proxy.url + "/widget.js")))
            w = W(page)
            await start_chat(w)
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            token = await stored_token(page)
            assert token
            # the token dies (as if signed by another server), and the server is away
            forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
            await page.evaluate(
                "(t) => { for (const k of Object.keys(localStorage))"
                " if (k.endsWith('token')) localStorage.setItem(k, t); }", forged)
            proxy.blocking = True
            before = len(proxy.handshakes)
            await page.reload()

            # no answer from the server: the token is kept, however many handshakes fail
            await eventually(lambda: _at_least(proxy, before + OLD_RULE_REFUSALS + 1), 60)
            assert all(proxy.handshakes[before:]), proxy.handshakes[before:]
            assert await stored_token(page) == forged

            # the server is reachable: it refuses the handshakes, then says the token is
            # invalid; the widget drops it and comes back as a new visitor
            proxy.blocking = False
            await eventually(lambda: _new_token(page, forged), 60)
            assert not all(proxy.handshakes[before:])
            if not await w.panel.is_visible():
                await w.open()
            await expect(w.field("name")).to_be_visible()  # a new visitor: a new chat
            await start_chat(w, name="Ada again")
            await agent.wait_for(lambda f: f["type"] == "offer" and f["chat"]["id"] != chat_id,
                                 scaled(10))


async def _down(agent: ChatClient) -> bool:
    return not agent.connected.is_set()


async def _at_least(proxy: WatchingProxy, count: int) -> bool:
    return len(proxy.handshakes) >= count


async def _new_token(page: Page, forged: str) -> bool:
    value = await stored_token(page)
    return value is not None and value != forged


async def _all_sent(w: W) -> bool:
    states = [await w.mine.nth(i).get_attribute("data-state") for i in range(await w.mine.count())]
    return set(states) <= {"sent", "read"}


def _order(agent: ChatClient, chat_id: str) -> list[str]:
    """The chat's messages in the server's order (the agent's copy, complete)."""
    return agent_texts(agent, chat_id)
