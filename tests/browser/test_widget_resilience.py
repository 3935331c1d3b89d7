"""The same chat continues through reloads, network cuts and a second tab: nothing lost,
nothing shown twice.  The host page is on another origin (a static site on another port);
the widget reaches the server through a TCP proxy that the test can cut."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from playwright.async_api import Browser, WebSocket, expect

from tests.browser.test_widget_support import (
    W,
    accept,
    agent_texts,
    browser_page,
    chat_id_of,
    clients,
    host_page,
    proxied,
    running,
    site,
    start_chat,
)
from tests.harness import scaled

pytestmark = pytest.mark.timeout(90)


async def states(w: W) -> list[str]:
    return [str(await w.mine.nth(i).get_attribute("data-state"))
            for i in range(await w.mine.count())]


async def test_reload_mid_chat_keeps_the_chat_and_history_without_duplicates(
    browser: Browser, redis_url: str
) -> None:
    async with (
        running(redis_url) as cluster,
        proxied(cluster.servers[0].port) as proxy,
        site() as shop,
        browser_page(browser) as (_, page),
    ):
        token = await cluster.add_agent("alice", name="Alice")
        agent = await cluster.agent(token)
        async with clients(agent):
            await page.goto(shop.page("/", host_page(proxy.url + "/widget.js")))
            w = W(page)
            await start_chat(w)
            chat_id = await chat_id_of(w)
            await accept(agent, chat_id)
            await w.say("one")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "two")
            await w.say("three")
            await w.wait_texts(["one", "two", "three"])

            # the agent writes while the page reloads
            await asyncio.gather(page.reload(), agent.say(chat_id, "four"))
            await expect(w.panel).to_be_visible()  # it was open: it opens again ...
            await expect(w.input).not_to_be_focused()  # ... without taking the page's focus
            await w.wait_texts(["one", "two", "three", "four"])
            await expect(w.title).to_have_text("Alice")
            assert await w.events("chatStarted") == []  # the same chat, not a new one
            await w.say("five")
            await w.wait_texts(["one", "two", "three", "four", "five"])

            # a message written while the socket is down survives a reload
            proxy.cut_sockets()
            await expect(w.banner).to_be_visible()
            await w.say("six, written offline")
            await expect(w.mine.last).to_have_attribute("data-state", "sending")
            await page.reload()
            await expect(w.panel).to_be_visible()
            proxy.restore()
            expected = ["one", "two", "three", "four", "five", "six, written offline"]
            await w.wait_texts(expected)
            await agent.wait_messages(chat_id, len(expected))
            await asyncio.sleep(scaled(0.5))
            assert agent_texts(agent, chat_id) == expected
            await w.wait_texts(expected)
            assert set(await states(w)) <= {"sent", "read"}


async def test_network_cut_and_restored_with_messages_on_both_sides(
    browser: Browser, redis_url: str
) -> None:
    async with (
        running(redis_url) as cluster,
        proxied(cluster.servers[0].port) as proxy,
        site() as shop,
        browser_page(browser) as (context, page),
    ):
        token = await cluster.add_agent("alice", name="Alice")
        agent = await cluster.agent(token)
        sockets: list[tuple[str, list[dict[str, Any]]]] = []  # (url, frames sent)

        def opened(ws: WebSocket) -> None:
            sent: list[dict[str, Any]] = []
            sockets.append((ws.url, sent))
            ws.on("framesent", lambda payload: sent.append(
                msgspec.msgpack.decode(payload) if isinstance(payload, bytes) else {}))

        page.on("websocket", opened)
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

            # the server still hears the browser, but its answers are lost: "v2" is stored
            # and its acknowledgement never arrives
            proxy.freeze_downstream()
            await w.say("v2")
            await agent.wait_messages(chat_id, 3)
            await expect(w.mine.last).to_have_attribute("data-state", "sending")

            # then the network goes away altogether; both sides keep writing
            await context.set_offline(True)
            proxy.cut()
            await expect(w.banner).to_have_text("Connection lost. Reconnecting…")
            await w.say("v3")
            await agent.say(chat_id, "a2")
            await agent.say(chat_id, "a3")
            await expect(w.mine.last).to_have_attribute("data-state", "sending")

            proxy.restore()
            await context.set_offline(False)
            expected = ["v1", "a1", "v2", "a2", "a3", "v3"]
            await w.wait_texts(expected)
            await expect(w.banner).to_be_hidden()
            await agent.wait_messages(chat_id, len(expected))
            await asyncio.sleep(scaled(0.5))
            # none lost, none doubled, on either side
            assert agent_texts(agent, chat_id) == expected
            await w.wait_texts(expected)
            assert set(await states(w)) <= {"sent", "read"}
            seqs = [m["seq"] for m in agent.messages[chat_id]]
            assert seqs == sorted(set(seqs))
            # the widget came back naming its chat in the handshake (docs/protocol.md
            # 2.2): no ``resume`` request on the socket that did
            url, sent = sockets[-1]
            assert f"resume={chat_id}" in url, url
            assert not [f for f in sent if f.get("type") == "resume"], sent

            # and the chat goes on
            await agent.say(chat_id, "a4")
            await w.wait_texts([*expected, "a4"])


async def test_second_tab_shows_the_same_chat_and_unread_counts(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (context, page):
        token = await cluster.add_agent("alice", name="Alice")
        agent = await cluster.agent(token)
        async with clients(agent):
            await page.goto(cluster.urls[0] + "/demo/")
            w1 = W(page)
            await start_chat(w1)
            chat_id = await chat_id_of(w1)
            await accept(agent, chat_id)
            await w1.say("from tab one")
            await agent.wait_messages(chat_id, 1)
            await agent.say(chat_id, "hello both")
            await w1.wait_texts(["from tab one", "hello both"])

            page2 = await context.new_page()
            await page2.goto(cluster.urls[0] + "/demo/")
            w2 = W(page2)
            await expect(w2.launcher).to_be_visible()
            await expect(w2.panel).to_be_hidden()  # the panel state is per tab
            await expect(w2.badge).to_be_hidden()  # tab one has read everything

            # the panel of tab one is closed too: a new agent message is unread in both
            await w1.input.focus()
            await page.keyboard.press("Escape")
            await expect(w1.panel).to_be_hidden()
            await expect(w1.launcher).to_be_focused()
            await agent.say(chat_id, "are you there?")
            await expect(w1.badge).to_have_text("1")
            await expect(w2.badge).to_have_text("1")
            assert {"count": 1} in await w2.events("unread")

            # reading it in tab two clears the badge in tab one
            await w2.open()
            await w2.wait_texts(["from tab one", "hello both", "are you there?"])
            await expect(w2.title).to_have_text("Alice")
            await expect(w1.badge).to_be_hidden()
            await expect(w2.badge).to_be_hidden()

            await w2.say("from tab two")
            await w1.open()
            await w1.wait_texts(["from tab one", "hello both", "are you there?", "from tab two"])
            assert await w1.mine.count() == 2
            await agent.wait_messages(chat_id, 4)
            assert agent_texts(agent, chat_id) == [
                "from tab one", "hello both", "are you there?", "from tab two"]

            # ending in one tab ends it in both
            await w2.end_button.click()
            await page2.locator("lc-chat-widget .confirm [data-action=end]").click()
            for w in (w1, w2):
                await expect(w.body.locator("[data-lc=ended]")).to_have_text("You ended the chat.")
            await page2.close()
