"""Outage notices in the agent console, in a real browser: a supervisor posts one from the
Live tab (a text per language and a topic), every console shows it (role="status") in
its language (English, Arabic right to left, Ukrainian), a waiting visitor gets it, and
ending it with "close waiting chats" removes it everywhere and closes the queued chat with
the outcome incident.  Writes ``docs/screenshots/notice-console.png``."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_console import (
    WAIT_MS,
    Closer,
    open_console,
    set_language,
    shot,
    start_cluster,
)
from tests.harness import scaled

TEXTS = {
    "en": "Card payments are failing. We are working on it.",
    "ar": "تتعذر المدفوعات بالبطاقات. نحن نعمل على حلها.",
    "uk": "Оплати карткою не проходять. Ми працюємо над цим.",
}


@pytest.mark.timeout(120)
async def test_console_posts_shows_and_ends_a_notice(browser: Browser, redis_url: str) -> None:
    cluster = await start_cluster(redis_url, n=2)
    closer = Closer()
    try:
        await cluster.set_topic("billing")
        await cluster.add_agent("sue", name="Sue", role="supervisor", capacity=0)
        await cluster.add_agent("pat", name="Pat", capacity=0)
        visitor = closer.client(await cluster.visitor(server=1))
        chat = await visitor.start(topic="billing", locale="en")
        sue = closer.console(await open_console(browser, cluster.urls[0], "sue"))
        pat = closer.console(await open_console(browser, cluster.urls[1], "pat"))
        await sue.tid("tab-live").click()
        await sue.tid("notice-open").click()
        for lang, text in TEXTS.items():
            await sue.tid(f"notice-text-{lang}").fill(text)
        await sue.page.locator("[data-testid=notice-form] label.check", has_text="billing") \
            .locator("input").check()
        await sue.tid("notice-post").click()

        for console in (sue, pat):
            bar = console.tid("notices")
            await expect(bar).to_have_attribute("role", "status")
            await expect(bar).to_contain_text(TEXTS["en"], timeout=WAIT_MS)
            await expect(bar).to_contain_text("billing")
        frame = await visitor.wait_for(lambda f: f["type"] == "notice", scaled(10))
        assert frame["texts"] == TEXTS and frame["topics"] == ["billing"]
        # agents cannot end it; the supervisor can
        await expect(pat.tid("notice-end")).to_have_count(0)
        await shot(sue.page, "notice-console")
        for lang in ("ar", "uk"):
            await set_language(pat, lang)
            await expect(pat.tid("notices")).to_contain_text(TEXTS[lang])
        await expect(pat.page.locator("html")).to_have_attribute("dir", "ltr")
        await set_language(pat, "ar")
        await expect(pat.page.locator("html")).to_have_attribute("dir", "rtl")

        sue.page.once("dialog", lambda d: d.accept())
        await sue.tid("notice-end-close").click()
        for console in (sue, pat):
            await expect(console.tid("notice")).to_have_count(0, timeout=WAIT_MS)
        await visitor.wait_for(lambda f: f["type"] == "notice_end", scaled(10))
        closed = await visitor.wait_for(
            lambda f: f["type"] == "chat" and f["chat"]["state"] == "closed", scaled(10)
        )
        assert closed["chat"]["id"] == chat["id"] and closed["chat"]["outcome"] == "incident"
        status, listed = await http("GET", cluster.urls[0] + "/api/notices",
                                    token=cluster.admin_token)
        assert status == 200 and listed == []
        assert closer.page_errors() == []
    finally:
        await closer.close()
        cluster.stop()
