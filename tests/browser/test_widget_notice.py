"""Outage notices in the widget, in a real browser: a banner above the conversation that
screen readers announce (role="status"), in English, Arabic (right to left) and
Ukrainian; "email me when this is resolved" before a chat; shown live to a waiting
visitor and removed when the supervisor ends it.  Writes ``docs/screenshots/notice.png``
(and ``notice-ar.png``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from chatserver.client import http
from tests.browser.test_widget_support import (
    W,
    browser_page,
    chat_id_of,
    clients,
    running,
    start_chat,
)
from tests.harness import scaled

pytestmark = pytest.mark.timeout(120)
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TEXTS = {
    "en": "Card payments are failing since 09:10. We are working on it.",
    "ar": "تتعذر المدفوعات بالبطاقات منذ 09:10. نحن نعمل على حلها.",
    "uk": "Оплати карткою не проходять з 09:10. Ми працюємо над цим.",
}
LABEL = {"en": "Service notice", "ar": "إشعار الخدمة", "uk": "Повідомлення служби"}


async def test_notice_banner_in_three_languages(browser: Browser, redis_url: str) -> None:
    async with running(redis_url) as cluster, browser_page(browser) as (_, page):
        base = cluster.urls[0]
        sue = await cluster.add_agent("sue", role="supervisor", capacity=0)
        # online and able, with no room: chats wait in the queue
        agent = await cluster.agent(await cluster.add_agent("alice", capacity=0))
        async with clients(agent):
            status, notice = await http("POST", base + "/api/notices",
                                        {"texts": TEXTS}, token=sue)
            assert status == 201, notice
            w = W(page)
            banner = page.locator("lc-chat-widget [data-lc=notices]")
            await page.goto(base + "/demo/")
            await w.open()
            # a new visitor sees it before starting a chat, announced politely
            await expect(banner).to_be_visible()
            await expect(banner).to_have_attribute("role", "status")
            await expect(banner).to_have_attribute("aria-live", "polite")
            for lang in ("ar", "uk", "en"):
                await page.evaluate(f"LiveChat('setLocale', '{lang}')")
                await expect(w.root).to_have_attribute("lang", lang)
                await expect(w.root).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
                await expect(banner).to_contain_text(LABEL[lang])
                await expect(banner).to_contain_text(TEXTS[lang])
                if lang == "ar":
                    await page.screenshot(path=str(SHOTS / "notice-ar.png"))
            # "email me when this is resolved": an offline message linked to the notice
            await w.button("Email me when this is resolved").click()
            await banner.locator("input[type=email]").fill("ada@example.com")
            await w.button("Notify me").click()
            await expect(banner.locator("[data-lc=notice-emailed]")).to_be_visible()
            deadline = time.monotonic() + scaled(15)
            while True:
                status, found = await http("GET", base + "/api/records?state=offline",
                                           token=sue)
                if status == 200 and found["items"]:
                    break
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.2)
            assert found["items"][0]["notices"] == [notice["id"]]
            assert found["items"][0]["visitor_email"] == "ada@example.com"

            # a waiting visitor keeps seeing it; ending it removes the banner
            await start_chat(w, name="Ada")
            await chat_id_of(w)
            await expect(w.queue).to_be_visible()
            await expect(banner).to_contain_text(TEXTS["en"])
            await expect(w.button("Email me when this is resolved")).to_have_count(0)
            await page.screenshot(path=str(SHOTS / "notice.png"))
            status, _ = await http("DELETE", f"{base}/api/notices/{notice['id']}", token=sue)
            assert status == 200
            await expect(banner).to_be_hidden()
            # a notice posted while the visitor waits appears at once
            status, _ = await http("POST", base + "/api/notices",
                                      {"texts": {"en": "Logins are slow."}}, token=sue)
            assert status == 201
            await expect(banner).to_contain_text("Logins are slow.")
            await page.evaluate("LiveChat('setLocale', 'uk')")
            # no Ukrainian text: the English one
            await expect(banner).to_contain_text("Logins are slow.")
            await expect(banner).to_contain_text(LABEL["uk"])
