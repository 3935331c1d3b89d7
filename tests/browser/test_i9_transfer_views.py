"""Issue 9, item 9, in a real browser: the widget tells the visitor who they are chatting
with after a transfer and who closed the chat, and the console's reassign list shows the
agents who cannot take the chat disabled, with the reason."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Locator, expect

from tests.browser.test_console import Closer, open_console, start_cluster
from tests.browser.test_widget_support import W, accept_next, browser_page, clients, running
from tests.harness import scaled

WAIT_MS = scaled(15) * 1000


@pytest.mark.timeout(120)
async def test_i9_09_widget_shows_the_new_agent_and_the_supervisor_close(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        bob = await cluster.agent(await cluster.add_agent("bob", name="Bob", capacity=1))
        sue = await cluster.agent(
            await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        )
        async with clients(bob, sue):
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await w.open()
            await w.field("name").fill("Ada")
            await w.button("Start chat").click()
            chat_id = await accept_next(bob)
            await expect(w.title).to_have_text("Bob")
            alice = await cluster.agent(
                await cluster.add_agent("alice", name="Alice", capacity=1)
            )
            async with clients(alice):
                await bob.request({"type": "transfer", "chat": chat_id, "agent": "alice",
                                   "note": "VIP, be nice"})
                notice = w.rows.filter(has_text="You are now chatting with Alice")
                await expect(notice).to_have_count(1, timeout=WAIT_MS)
                await expect(w.title).to_have_text("Alice")
                await expect(w.body).not_to_contain_text("VIP, be nice")
                # a supervisor closes it: the visitor is told it was the supervisor
                await sue.request({"type": "close", "chat": chat_id, "outcome": "resolved"})
                await expect(w.body.locator("[data-lc=ended]")).to_have_text(
                    "Sue (supervisor) ended the chat.", timeout=WAIT_MS
                )
                ended = await w.events("chatEnded")
                assert ended == [{"id": chat_id, "by": "supervisor", "outcome": "resolved"}]


@pytest.mark.timeout(120)
async def test_i9_09_reassign_list_shows_offline_and_full_agents_disabled_with_reason(
    browser: Browser, redis_url: str
) -> None:
    cluster = await start_cluster(redis_url, n=1)
    closer = Closer()
    try:
        tokens = {
            a: await cluster.add_agent(a, name=a.capitalize(), capacity=1)
            for a in ("alice", "dave", "carol")
        }
        erin_token = await cluster.add_agent("erin", name="Erin", capacity=2)
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        # Alice takes the first chat, Dave the second (then he is full); Erin is free;
        # Carol never comes online
        alice = closer.client(await cluster.agent(tokens["alice"]))
        v1 = closer.client(await cluster.visitor())
        chat1 = (await v1.start(name="Dana"))["id"]
        assert await accept_next(alice) == chat1
        dave = closer.client(await cluster.agent(tokens["dave"]))
        v2 = closer.client(await cluster.visitor())
        chat2 = (await v2.start(name="Emil"))["id"]
        assert await accept_next(dave) == chat2
        erin = closer.client(await cluster.agent(erin_token))

        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        await sue.tid("tab-live").click()
        erin_row = sue.page.locator("[data-testid=agent-row][data-agent=erin]")
        await expect(erin_row.locator("[data-testid=agent-load]")).to_have_text("0/2")
        row = sue.page.locator(f"[data-testid=active-row][data-chat='{chat1}']")
        await row.locator("[data-testid=watch]").click()
        await sue.tid("reassign", "[data-testid=watch-pane]").click()
        select = sue.tid("transfer-agent")

        def option(agent_id: str) -> Locator:
            found: Locator = select.locator(f"option[value={agent_id}]")
            return found

        await expect(option("carol")).to_be_disabled()
        await expect(option("carol")).to_have_attribute("data-reason", "offline")
        await expect(option("carol")).to_contain_text("offline")
        await expect(option("dave")).to_be_disabled()
        await expect(option("dave")).to_have_attribute("data-reason", "full")
        await expect(option("dave")).to_contain_text("no free capacity")
        await expect(option("alice")).to_be_disabled()
        await expect(option("alice")).to_have_attribute("data-reason", "holder")
        await expect(option("erin")).to_be_enabled()
        # the one who can take it does
        await select.select_option("erin")
        await sue.tid("transfer-submit").click()
        assigned = await erin.wait_for(
            lambda f: f["type"] == "assigned" and f["chat"]["id"] == chat1, scaled(10)
        )
        assert assigned["chat"]["agent"]["id"] == "erin"
        assert not closer.page_errors()
    finally:
        await closer.close()
        cluster.stop()

