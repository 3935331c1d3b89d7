"""Visitors on the site in a real browser (the widget's side): with VISITOR_TRACKING on, the
demo page's widget reports its pages without being opened, a single-page navigation is
reported too, the visitor leaves the list when the page closes, and an agent's invitation
shows in the widget (en/ar) where the visitor declines it (the agent hears of it) or accepts
it (a chat starts and is offered).  Off: the widget sends no page view.  Real ``chatserver
serve`` processes, Debian's chromium; the agent is the Python client."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from playwright.async_api import Browser, Page, expect

from chatserver.client import http
from tests.browser.test_widget_support import (
    W,
    browser_page,
    chat_id_of,
    clients,
    eventually,
    running,
    start_chat,
)
from tests.harness import Cluster, scaled

pytestmark = pytest.mark.timeout(120)


def record_sent(page: Page) -> list[dict[str, Any]]:
    """Every frame the page's sockets send (decoded), as they go."""
    sent: list[dict[str, Any]] = []

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            frame = msgspec.msgpack.decode(payload)
            if isinstance(frame, dict):
                sent.append(frame)

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    return sent


async def listed(c: Cluster) -> list[dict[str, Any]]:
    status, body = await http("GET", f"{c.urls[0]}/api/visitors/online", token=c.admin_token)
    assert status == 200, body
    return list(body["visitors"])


async def only_row(c: Cluster, **match: Any) -> dict[str, Any]:
    """Wait for the site list to hold one visitor matching ``match``; their row."""
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        rows = await listed(c)
        found[:] = rows
        return len(rows) == 1 and all(rows[0].get(k) == v for k, v in match.items())

    await eventually(check, timeout=15)
    return found[0]


async def test_without_tracking_the_widget_sends_no_page_view(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url) as c:
        agent = await c.agent(await c.add_agent("ana"))
        async with clients(agent), browser_page(browser) as (_, page):
            sent = record_sent(page)
            await page.goto(c.urls[0] + "/demo/")
            w = W(page)
            await start_chat(w)
            await chat_id_of(w)
            kinds = [f["type"] for f in sent]
            # a page view would go with the welcome, before the start
            assert "start" in kinds and "page" not in kinds, kinds
            status, body = await http(
                "GET", f"{c.urls[0]}/api/visitors/online", token=c.admin_token
            )
            assert status == 200 and body["enabled"] is False and body["visitors"] == []


async def test_visitor_on_the_site_invited_declines_then_accepts(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url, VISITOR_TRACKING="true") as c:
        agent = await c.agent(await c.add_agent("ana", name="Ana Lima"))
        async with clients(agent), browser_page(browser) as (_, page):
            sent = record_sent(page)
            await page.goto(c.urls[0] + "/demo/")
            w = W(page)
            # reported without opening the widget
            row = await only_row(c, pages=1)
            assert row["url"] == c.urls[0] + "/demo/"
            assert row["lang"] == "en" and row["returning"] is False and row["in_chat"] is False
            assert await w.panel.is_hidden()
            vid = row["visitor"]

            # a single-page navigation is a page view
            await page.evaluate("history.pushState({}, '', '/demo/?step=pricing')")
            row = await only_row(c, pages=2)
            assert row["url"] == c.urls[0] + "/demo/?step=pricing"

            # invited (in Arabic now): the card shows the agent's name and message, as text
            await page.locator("nav button[data-lang=ar]").click()
            invite = page.locator("lc-chat-widget [data-lc=invite]")
            reply = await agent.request(
                {"type": "invite", "visitor": vid, "text": "<b>Need help?</b>"}
            )
            await expect(invite).to_be_visible()
            await expect(invite).to_contain_text("دعوة إلى المحادثة من Ana Lima")
            await expect(invite.locator("[data-lc=invite-text]")).to_have_text(
                "<b>Need help?</b>"
            )
            await expect(invite.locator("b")).to_have_count(0)
            await invite.locator("[data-action=invite-decline]").click()
            await expect(invite).to_be_hidden()
            answer = await agent.wait_for(lambda f: f["type"] == "invite_answer", scaled(10))
            assert answer["invite"] == reply["invite"] and answer["accepted"] is False
            assert (await only_row(c, answer="declined"))["visitor"] == vid

            # invited again (in English): accepting opens the chat and starts it
            await page.locator("nav button[data-lang=en]").click()
            since = len(agent.frames)
            await agent.request({"type": "invite", "visitor": vid})
            await expect(invite).to_contain_text("Invitation to chat from Ana Lima")
            await invite.locator("[data-action=invite-accept]").click()
            await agent.wait_for(
                lambda f: f["type"] == "invite_answer" and f["accepted"] is True,
                scaled(10),
                since=since,
            )
            await expect(w.panel).to_be_visible()
            chat_id = await chat_id_of(w)
            offer = await agent.wait_for(lambda f: f["type"] == "offer", scaled(10))
            assert offer["chat"]["id"] == chat_id
            await expect(invite).to_be_hidden()
            assert (await only_row(c, in_chat=True))["visitor"] == vid
            assert [f["type"] for f in sent].count("page") == 2

        # the page is gone: so is the visitor
        async def gone() -> bool:
            return await listed(c) == []

        await eventually(gone, timeout=15)


async def test_an_invitation_answered_in_one_tab_leaves_the_others(
    browser: Browser, redis_url: str
) -> None:
    async with running(redis_url, VISITOR_TRACKING="true") as c:
        agent = await c.agent(await c.add_agent("ana", name="Ana"))
        async with clients(agent), browser_page(browser) as (context, page):
            await page.goto(c.urls[0] + "/demo/")
            vid = (await only_row(c, pages=1))["visitor"]
            second = await context.new_page()  # the same visitor (same storage)
            await second.goto(c.urls[0] + "/demo/?tab=2")
            assert (await only_row(c, pages=2))["visitor"] == vid
            await agent.request({"type": "invite", "visitor": vid, "text": "Hello"})
            cards = [p.locator("lc-chat-widget [data-lc=invite]") for p in (page, second)]
            for card in cards:
                await expect(card).to_contain_text("Invitation to chat from Ana")
            await cards[1].locator("[data-action=invite-decline]").click()
            for card in cards:
                await expect(card).to_be_hidden()
            answer = await agent.wait_for(lambda f: f["type"] == "invite_answer", scaled(10))
            assert answer["accepted"] is False
