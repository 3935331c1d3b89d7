"""Issue 9, item 6, in a real browser: the open widget follows availability without a
reload, and a waiting visitor whose agents went away is told so, keeps the place, and may
leave a message instead."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_widget_support import (
    W,
    accept_next,
    browser_page,
    clients,
    eventually,
    running,
    start_chat,
)
from tests.harness import Cluster

pytestmark = pytest.mark.timeout(120)


async def _chat_state(cluster: Cluster, chat_id: str) -> str:
    r = cluster.redis()
    try:
        state = await r.hget(f"{cluster.prefix}:{{rt}}:chat:{chat_id}", "state")
    finally:
        await r.aclose()
    return state.decode() if state else ""


async def test_i9_06_open_widget_flips_between_offline_and_prechat_forms_without_reload(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        token = await cluster.add_agent("alice", name="Alice")
        first = await cluster.agent(token)
        async with clients(first):
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await w.open()
            prechat = w.body.locator("form[data-lc=prechat]")
            offline = w.body.locator("form[data-lc=offline]")
            await expect(prechat).to_be_visible()
            await expect(w.panel.locator(".head-sub")).to_have_text("We're online")
            # the last agent goes offline: the open widget switches to the offline form
            await first.request({"type": "status", "status": "offline"})
            await expect(offline).to_be_visible()
            await expect(prechat).to_have_count(0)
            await expect(w.panel.locator(".head-sub")).to_have_text("We're away right now")
        # an agent comes online: back to the pre-chat form, same page
        again = await cluster.agent(token)
        async with clients(again):
            await expect(prechat).to_be_visible()
            await expect(w.panel.locator(".head-sub")).to_have_text("We're online")
            reloads = await page.evaluate("performance.getEntriesByType('navigation').length")
            assert reloads == 1


async def test_i9_06_waiting_visitor_without_agents_sees_no_estimate_and_may_leave_a_message(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        token = await cluster.add_agent("alice", name="Alice", capacity=1)
        agent = await cluster.agent(token)
        busy = await cluster.visitor()
        async with clients(agent, busy):
            # the only agent is busy: the widget's visitor waits, with an estimate
            await busy.start(name="Busy")
            await accept_next(agent)
            await page.goto(cluster.urls[0] + "/demo/")
            w = W(page)
            await start_chat(w)
            await expect(w.position).to_have_text("Your place in the queue: 1")
            await expect(w.queue.locator("[data-lc=eta]")).to_be_visible()
            no_agents = w.queue.locator("[data-lc=no-agents]")
            await expect(no_agents).to_have_count(0)

            # the agent goes away: no estimate, said so, the place is kept
            await agent.request({"type": "status", "status": "away"})
            await expect(no_agents).to_have_text(
                "Nobody who can answer is online right now. You keep your place in the queue.")
            await expect(w.queue.locator("[data-lc=eta]")).to_have_count(0)
            await expect(w.position).to_have_text("Your place in the queue: 1")
            await expect(w.panel.locator(".head-sub")).to_have_text("We're away right now")
            chat_id = str((await w.events("chatStarted"))[-1]["id"])
            assert await _chat_state(cluster, chat_id) == "queued"

            # choosing to leave a message shows the offline form; keeping waiting goes back
            await w.queue.locator("[data-action=leave-message]").click()
            offline = w.body.locator("form[data-lc=offline]")
            await expect(offline).to_be_visible()
            await w.body.locator("[data-action=keep-waiting]").click()
            await expect(w.position).to_have_text("Your place in the queue: 1")
            await expect(no_agents).to_be_visible()

            # the agent returns: the estimate is back, the notice gone
            await agent.request({"type": "status", "status": "online"})
            await expect(w.queue.locator("[data-lc=eta]")).to_be_visible()
            await expect(no_agents).to_have_count(0)

            # away again; this time the visitor leaves a message and gives up the place
            await agent.request({"type": "status", "status": "away"})
            await w.queue.locator("[data-action=leave-message]").click()
            await w.field("email").fill("ada@example.com")
            await w.field("message").fill("Call me back please")
            await w.button("Send message").click()
            await expect(w.body.locator("[data-lc=offline-thanks]")).to_be_visible()

            async def given_up() -> bool:
                return await _chat_state(cluster, chat_id) not in ("queued", "offered")

            await eventually(given_up, 15)
            # a reload does not bring the given-up chat back
            await page.reload()
            await expect(w.panel).to_be_visible()  # the open panel is restored
            await expect(w.body.locator("form[data-lc=offline]")).to_be_visible()
