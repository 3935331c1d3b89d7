"""Visitors on the site in the console: the Visitors tab lists the widget's visitor (page as
text and as an http link, language, new), in English, Arabic and Ukrainian; the agent
invites them with a message, the widget shows it, the visitor declines (the console says
so), is invited again and accepts (a chat starts: the row says "in a chat" and cannot be
invited).  Without VISITOR_TRACKING the tab says the feature is off.  Real ``chatserver
serve`` processes, Debian's chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    closer,  # noqa: F401 (fixture)
    offered_to,
    open_console,
    set_language,
    shot,
    start_cluster,
)
from tests.browser.test_widget_support import W, browser_page, chat_id_of

pytestmark = pytest.mark.timeout(120)


async def test_console_lists_and_invites_a_visitor(
    browser: Browser, redis_url: str, closer: Closer  # noqa: F811
) -> None:
    cluster = await start_cluster(redis_url, visitor_tracking="true")
    try:
        await cluster.add_agent("alice", name="Alice", capacity=2)
        console = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        async with browser_page(browser) as (_, page):
            await page.goto(cluster.urls[0] + "/demo/")
            await page.evaluate("document.title = 'Pricing <img src=x onerror=alert(1)>'")
            await page.evaluate("history.pushState({}, '', '/demo/?p=pricing')")
            w = W(page)
            await console.tid("tab-visitors").click()
            row = console.tid("visitor-row")
            await expect(row).to_have_count(1, timeout=WAIT_MS)
            link = row.locator("[data-testid=visitor-page] a")
            # (the navigation may be reported after the load's page view: wait for it)
            await expect(link).to_have_attribute(
                "href", cluster.urls[0] + "/demo/?p=pricing", timeout=WAIT_MS
            )
            await expect(link).to_have_text("Pricing <img src=x onerror=alert(1)>")
            await expect(row.locator("img")).to_have_count(0)
            await expect(console.tid("visitor-lang")).to_have_text("en")
            for lang, new in (("ar", "جديد"), ("uk", "Новий"), ("en", "New")):
                await set_language(console, lang)
                await expect(console.tid("visitor-kind")).to_have_text(new)

            # invite with a message; the visitor declines
            await console.tid("invite-message").fill("Can I help with pricing?")
            await console.tid("visitor-invite").click()
            await expect(console.tid("visitor-state")).to_have_text("Invited", timeout=WAIT_MS)
            await expect(console.tid("visitor-invite")).to_be_disabled()
            invite = page.locator("lc-chat-widget [data-lc=invite]")
            await expect(invite).to_contain_text("Invitation to chat from Alice")
            await expect(invite).to_contain_text("Can I help with pricing?")
            await shot(console.page, "console-visitors")
            await shot(page, "widget-invite")
            await invite.locator("[data-action=invite-decline]").click()
            await expect(console.tid("toast").last).to_have_text(
                "The visitor declined your invitation.", timeout=WAIT_MS
            )
            await expect(console.tid("visitor-state")).to_have_text("Declined", timeout=WAIT_MS)

            # invited again: accepted, a chat starts, and they cannot be invited now
            await console.tid("visitor-invite").click()
            await invite.locator("[data-action=invite-accept]").click()
            chat_id = await chat_id_of(w)
            await offered_to([console], chat_id)
            await expect(console.tid("visitor-state")).to_have_text("In a chat", timeout=WAIT_MS)
            await expect(console.tid("visitor-invite")).to_be_disabled()
        assert closer.page_errors() == []
    finally:
        cluster.stop()


async def test_console_says_when_the_feature_is_off(
    browser: Browser, redis_url: str, closer: Closer  # noqa: F811
) -> None:
    cluster = await start_cluster(redis_url)
    try:
        await cluster.add_agent("alice", name="Alice")
        console = closer.console(await open_console(browser, cluster.urls[0], "alice"))
        await console.tid("tab-visitors").click()
        await expect(console.tid("visitors-off")).to_contain_text("VISITOR_TRACKING")
        await set_language(console, "ar")
        await expect(console.tid("tab-visitors")).to_have_text("الزوار")
    finally:
        cluster.stop()
